"""Bulk loading (``fhir-server load``): transaction/batch Bundles, NDJSON and single resources from files or folders.

Everything goes through the same interactions as the REST API (validation, ids, references,
indexing): a transaction Bundle is one database transaction; a batch, NDJSON file or single
resource is written entry by entry (resources with an id keep it: PUT; without: POST).
"""

from __future__ import annotations

import asyncio
import gzip
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from fhir_server.bundles.batch import batch
from fhir_server.bundles.transaction import transaction
from fhir_server.errors import FhirError
from fhir_server.fhir.json import parse_body
from fhir_server.state import Server

Json = dict[str, Any]
SUFFIXES = (".json", ".json.gz", ".ndjson", ".ndjson.gz")
NDJSON_CHUNK = 500


@dataclass
class LoadReport:
    files: int = 0
    resources: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (where, reason)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0


def find_files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES)))
        elif path.exists():
            out.append(path)
        else:
            raise FileNotFoundError(f"No such file or folder: {path}")
    return out


def _read(source: Path | Traversable) -> bytes:
    data = source.read_bytes()
    return gzip.decompress(data) if source.name.endswith(".gz") else data


def _as_entries(resources: list[Json]) -> Json:
    """A batch Bundle writing each resource: PUT when it has an id, POST when not."""
    entries = []
    for res in resources:
        rtype, rid = res.get("resourceType"), res.get("id")
        if isinstance(rid, str) and rid:
            entries.append({"resource": res, "request": {"method": "PUT", "url": f"{rtype}/{rid}"}})
        else:
            entries.append({"resource": res, "request": {"method": "POST", "url": str(rtype)}})
    return {"resourceType": "Bundle", "type": "batch", "entry": entries}


def _units(name: str, data: bytes) -> Iterator[tuple[str, Json]]:
    """What to send for one file: (label, Bundle to process)."""
    if name.endswith((".ndjson", ".ndjson.gz")):
        chunk: list[Json] = []
        for n, line in enumerate(data.splitlines(), 1):
            if line.strip():
                chunk.append(parse_body(line, f"line {n}"))
            if len(chunk) >= NDJSON_CHUNK:
                yield f"{name}:{n}", _as_entries(chunk)
                chunk = []
        if chunk:
            yield name, _as_entries(chunk)
        return
    res = parse_body(data, "file")
    if not isinstance(res, dict):
        raise ValueError("the file does not hold a JSON object")
    if res.get("resourceType") == "Bundle" and res.get("type") in ("transaction", "batch"):
        yield name, res
    else:
        yield name, _as_entries([res])


class Loader:
    def __init__(self, server: Server, base: str, concurrency: int = 4, progress: bool = True) -> None:
        self.server = server
        self.base = base
        self.sem = asyncio.Semaphore(concurrency)
        self.progress = progress
        self.report = LoadReport()
        self._total_files = 0
        self._started = time.perf_counter()

    async def load(self, sources: list[Path] | list[Traversable]) -> LoadReport:
        self._total_files = len(sources)
        self._started = time.perf_counter()
        await asyncio.gather(*(self._file(s) for s in sources))
        self.report.seconds = time.perf_counter() - self._started
        if self.report.resources:
            await self._analyze()
        if self.progress:
            sys.stderr.write("\n")
        return self.report

    async def _analyze(self) -> None:
        """Refresh the planner's statistics: on freshly loaded index tables, PostgreSQL's guesses
        pick join plans hundreds of times slower than with real statistics."""
        async with self.server.pool.connection() as conn:
            await conn.execute("ANALYZE")

    async def _file(self, source: Path | Traversable) -> None:
        async with self.sem:
            name = str(source)
            try:
                units = list(_units(source.name, _read(source)))
            except (ValueError, OSError, FhirError) as exc:
                self.report.failures.append((name, f"unreadable: {exc}"))
                units = []
            for label, bundle in units:
                await self._unit(label if label != source.name else name, bundle)
            self.report.files += 1
            self._show()

    async def _unit(self, label: str, bundle: Json) -> None:
        try:
            if bundle.get("type") == "transaction":
                result = await transaction(self.server, self.base, bundle, "minimal")
            else:
                result = await batch(self.server, self.base, bundle, "minimal")
        except FhirError as exc:
            self.report.failures.append((label, f"{exc.status}: {exc.diagnostics}"))
            return
        for i, entry in enumerate(result.get("entry", [])):
            status = entry.get("response", {}).get("status", "")
            if status.startswith("2"):
                self.report.resources += 1
            else:
                issues = entry["response"].get("outcome", {}).get("issue", [{}])
                where = label if len(result["entry"]) == 1 else f"{label} entry {i}"
                self.report.failures.append((where, f"{status}: {issues[0].get('diagnostics', '')}"))

    def _show(self) -> None:
        if not self.progress:
            return
        done, total = self.report.files, self._total_files
        width = 30
        filled = int(width * done / total) if total else width
        elapsed = time.perf_counter() - self._started
        rate = self.report.resources / elapsed if elapsed else 0
        sys.stderr.write(
            f"\r[{'=' * filled}{' ' * (width - filled)}] {done}/{total} files, "
            f"{self.report.resources:,} resources, {rate:,.0f}/s, {len(self.report.failures)} failed"
        )
        sys.stderr.flush()
