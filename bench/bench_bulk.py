"""Bulk Data benchmark (issue 11, Bulk Data IG 2.0): NDJSON $import and system $export, next to raw PostgreSQL COPY.

One run, one machine: the server runs as its own process (``fhir-server serve``, embedded PostgreSQL,
authorization off) with ``--workers`` import worker processes. The data is the Synthea set copied
``--copies`` times with fresh ids (each copy's references rewritten to its own ids), one line per
resource as an export holds it. Figures printed:

- import: resources/s from the start of the upload to the job's completion (validation, FHIRPath
  indexing and COPY of resource, history, index and outbox rows; the worker processes already
  running), and the CPU time each kind of process spent per resource; the raw limit is COPY of
  exactly the rows the import wrote (resource, resource_history and the idx_* tables, read back as
  COPY text) into empty copies of those tables with the same indexes, and the ratio ours ÷ limit;
- export: resources/s from kick-off to the manifest, and of downloading every file; the raw limit
  is ``COPY (SELECT content::text FROM resource) TO STDOUT``; the server process's peak memory
  before and after the export (flat: the files are built inside PostgreSQL and streamed out).

The audit trail (``FHIR_AUDIT``, on by default) turns every write into an AuditEvent in the server
process's background worker, concurrently with the import and after it: ``--audit off`` measures
the bulk path alone.

Usage: ``python -m bench.bench_bulk [--copies 10] [--workers 2] [--audit off]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from bench.common import ServerProcess, synthea_bundles

Json = dict[str, Any]
TABLES = ("resource", "resource_history", "idx_string", "idx_token", "idx_date", "idx_number", "idx_quantity",
          "idx_reference", "idx_uri", "idx_geo", "idx_composite")
NDJSON = {"Content-Type": "application/fhir+ndjson", "Prefer": "respond-async", "Accept": "application/fhir+json"}


def _rewrite(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite(v, refs) for k, v in node.items()}
        if isinstance(out.get("reference"), str) and out["reference"] in refs:
            out["reference"] = refs[out["reference"]]
        return out
    if isinstance(node, list):
        return [_rewrite(v, refs) for v in node]
    return node


def write_ndjson(path: Path, copies: int) -> int:
    """The Synthea resources, ``copies`` times with ids suffixed per copy, each resource once per copy as an
    export would hold it (the patient bundles repeat some organizations and practitioners); the lines."""
    bundles = synthea_bundles()
    n = 0
    with path.open("wb") as out:
        for k in range(copies):
            copy: dict[tuple[str, str], bytes] = {}
            for b in bundles:
                refs = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}-{k}" for e in b["entry"]}
                for e in b["entry"]:
                    resource = _rewrite(e["resource"], refs)
                    resource["id"] = f"{resource['id']}-{k}"
                    copy[(resource["resourceType"], resource["id"])] = orjson.dumps(resource) + b"\n"
            out.writelines(copy.values())
            n += len(copy)
    return n


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while piece := f.read(1 << 20):
            yield piece


def wait(client: httpx.Client, url: str) -> Json:
    while True:
        resp = client.get(url)
        if resp.status_code != 202:
            assert resp.status_code == 200, resp.text
            data: Json = resp.json()
            return data
        time.sleep(0.2)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(server_pid: int, data_dir: Path) -> dict[str, float]:
    """CPU seconds so far of the server process, its worker processes and this data directory's PostgreSQL
    (the postmaster, its live backends, and exited backends through the postmaster's children times)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: list[tuple[int, int, str, float, float]] = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            procs.append((int(proc.name), int(fields[1]), cmdline, (int(fields[11]) + int(fields[12])) / tick,
                          (int(fields[13]) + int(fields[14])) / tick))
    postmasters = {pid for pid, _, cmd, _, _ in procs if str(data_dir) in cmd and "postgres" in cmd}
    out = {"server": 0.0, "workers": 0.0, "postgres": 0.0}
    for pid, ppid, cmd, own, children in procs:
        if pid == server_pid:
            out["server"] += own
        elif ppid == server_pid and "spawn_main" in cmd:
            out["workers"] += own
        elif pid in postmasters:
            out["postgres"] += own + children
        elif ppid in postmasters:
            out["postgres"] += own
    return out


def raw_import_limit(url: str) -> tuple[int, float]:
    """COPY the rows the import wrote into empty same-shaped tables (with their indexes): (resources, seconds)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        conn.execute("CREATE SCHEMA bench")
        data: dict[str, bytes] = {}
        for t in TABLES:
            conn.execute(f"CREATE TABLE bench.{t} (LIKE public.{t} INCLUDING ALL)")
            buf = bytearray()
            with conn.cursor().copy(f"COPY public.{t} TO STDOUT") as copy:
                for piece in copy:
                    buf += piece
            data[t] = bytes(buf)
        n = conn.execute("SELECT count(*) FROM resource").fetchone()
        t0 = time.perf_counter()
        with conn.transaction():
            for t in TABLES:
                with conn.cursor().copy(f"COPY bench.{t} FROM STDIN") as copy:
                    copy.write(data[t])
        elapsed = time.perf_counter() - t0
        conn.execute("DROP SCHEMA bench CASCADE")
    return int(n[0]) if n else 0, elapsed


def raw_export_limit(url: str) -> tuple[int, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        t0 = time.perf_counter()
        size = 0
        with conn.cursor().copy("COPY (SELECT content::text FROM resource WHERE NOT deleted) TO STDOUT") as copy:
            for piece in copy:
                size += len(piece)
        elapsed = time.perf_counter() - t0
        n = conn.execute("SELECT count(*) FROM resource WHERE NOT deleted").fetchone()
    return int(n[0]) if n else 0, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=10, help="how many times the Synthea set is imported")
    ap.add_argument("--workers", type=int, default=2, help="import worker processes (FHIR_BULK_WORKERS)")
    ap.add_argument("--audit", default=None, help="FHIR_AUDIT for the server (all | writes | off; default: its own)")
    args = ap.parse_args()
    os.environ["FHIR_BULK_WORKERS"] = str(args.workers)
    if args.audit:
        os.environ["FHIR_AUDIT"] = args.audit
    scratch = Path(tempfile.mkdtemp(prefix="fhir-bench-bulk-"))
    try:
        run(args, scratch / "synthea.ndjson")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(args: argparse.Namespace, ndjson: Path) -> None:
    lines = write_ndjson(ndjson, args.copies)
    print(f"data: {lines:,} resources ({ndjson.stat().st_size / 1e6:,.0f} MB NDJSON), {os.cpu_count()} CPUs, "
          f"{args.workers} import workers, audit trail {os.environ.get('FHIR_AUDIT', 'default (all)')}")
    with ServerProcess(extra=["--no-auth"]) as server, httpx.Client(
            base_url=f"http://127.0.0.1:{server.port}", timeout=600) as c:
        assert server.proc is not None
        warm = c.post("/$import", content=b'{"resourceType": "Basic", "code": {"text": "warm-up"}}', headers=NDJSON)
        wait(c, warm.headers["content-location"])  # the worker processes are started on first use

        cpu0 = cpu_seconds(server.proc.pid, server.data_dir)
        t0 = time.perf_counter()
        resp = c.post("/$import", content=_file_chunks(ndjson), headers=NDJSON)
        uploaded = time.perf_counter() - t0
        manifest = wait(c, resp.headers["content-location"])
        import_s = time.perf_counter() - t0
        cpu1 = cpu_seconds(server.proc.pid, server.data_dir)
        imported = manifest["extension"]["urn:fhir-server:bulk:imported"]
        assert manifest["extension"]["urn:fhir-server:bulk:failed"] == 0, manifest
        rate = imported / import_s
        print(f"import: {imported:,} resources in {import_s:.1f} s = {rate:,.0f} resources/s "
              f"(upload {uploaded:.1f} s)")
        per = {k: (cpu1[k] - cpu0[k]) / imported * 1e6 for k in cpu0}
        print(f"import CPU per resource: workers {per['workers']:,.0f} µs, PostgreSQL {per['postgres']:,.0f} µs, "
              f"server process {per['server']:,.0f} µs (load average {os.getloadavg()[0]:.1f} at the end)")
        url = server.database_url()
        n_raw, raw_s = raw_import_limit(url)
        print(f"raw limit: COPY of the same rows (resource, history, index rows) = {n_raw / raw_s:,.0f} resources/s; "
              f"import / limit = {rate / (n_raw / raw_s):.2f}")

        rss_before = peak_rss_mb(server.proc.pid)
        t0 = time.perf_counter()
        resp = c.get("/$export", headers={"Prefer": "respond-async", "Accept": "application/fhir+json"})
        manifest = wait(c, resp.headers["content-location"])
        export_s = time.perf_counter() - t0
        exported = sum(o["count"] for o in manifest["output"])
        t0 = time.perf_counter()
        got = 0
        for o in manifest["output"]:
            with c.stream("GET", o["url"]) as file:
                for line in file.iter_lines():
                    got += bool(line)
        download_s = time.perf_counter() - t0
        assert got == exported
        n_exp, exp_raw_s = raw_export_limit(url)
        print(f"export: {exported:,} resources in {export_s:.1f} s = {exported / export_s:,.0f} resources/s; "
              f"download {got / download_s:,.0f} resources/s; raw COPY TO = {n_exp / exp_raw_s:,.0f} rows/s; "
              f"export / limit = {exported / export_s / (n_exp / exp_raw_s):.2f}")
        print(f"server peak memory: {rss_before:,.0f} MB before the export, {peak_rss_mb(server.proc.pid):,.0f} MB "
              "after it")


if __name__ == "__main__":
    main()
