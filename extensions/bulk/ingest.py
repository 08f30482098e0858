"""Writing NDJSON lines through the FHIR write path (http://hl7.org/fhir/R4/http.html#update, #create), in bulk.

Each line runs the interaction a client's PUT (line with an id) or POST (without) runs: type and
id checks, validation against the StructureDefinitions, write hooks, write guards; the staged
writes of a chunk (ids, versions, ``meta``, search index rows) are flushed together by
``WriteSession`` with COPY, in the chunk's one transaction (with the chunk's done mark and its
error lines). A line that fails is reported and left out; the others are written.

Fast path: all lines staged in one session (the existing rows locked in one query) and flushed
once; the second line with an id goes to a second session after that, and so on, so each line
becomes its own version, in file order. Types with write guards (scheduling invariants) go one at
a time in a savepoint. If the database
refuses the chunk (a value PostgreSQL cannot store), the chunk is written again one line at a time,
each in a savepoint, so the failing line is the one reported. A race with another writer (the same
new id created by a concurrent chunk, a deadlock) retries the chunk as it was, then line by line.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg

from extensions.bulk.import_run import ERROR_FILE, source
from fhir_server import definitions
from fhir_server.errors import BadRequest, Conflict, FhirError, Forbidden, InvalidResource
from fhir_server.fhir.json import now, parse_body
from fhir_server.interactions import create, update
from fhir_server.interactions.common import _write_guards
from fhir_server.storage.crypto import open_blob, seal_blob
from fhir_server.storage.repository import Conn
from fhir_server.storage.writes import WriteSession

log = logging.getLogger(__name__)
Json = dict[str, Any]
ATTEMPTS = 8  # the first FAST ones whole, the rest line by line (each line in a savepoint)
FAST = 3
RACES = (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


@dataclass(slots=True)
class Line:
    number: int
    res_type: str
    resource: Json

    @property
    def label(self) -> str:
        rid = self.resource.get("id")
        return f"{self.res_type}/{rid}" if isinstance(rid, str) else self.res_type


@dataclass(slots=True)
class Result:
    ok: int = 0
    errors: list[Json] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)


def line_error(src: str, number: int, label: str | None, exc: FhirError) -> Json:
    outcome = exc.outcome()
    where = f"{src}, line {number}" + (f" ({label})" if label else "")
    for issue in outcome["issue"]:
        issue["diagnostics"] = f"{where}: {issue.get('diagnostics', '')}"
    return outcome


def parse_line(raw: bytes, number: int, spec: Json, input_no: int) -> Line:
    resource = parse_body(raw, f"line {number}")
    if not isinstance(resource, dict):
        raise BadRequest("The line is not a JSON object (a FHIR resource)")
    res_type = resource.get("resourceType")
    if not isinstance(res_type, str) or res_type not in definitions.resource_types():
        raise InvalidResource(f"'{res_type}' is not an R4 resource type", expression=["resourceType"])
    declared = (spec.get("inputs") or [{}])[input_no].get("type")
    if declared and res_type != declared:
        raise BadRequest(f"The input is declared to hold {declared} resources, not {res_type}")
    if res_type not in spec.get("types", ()):
        raise Forbidden(f"The access token that started the import does not allow writing {res_type}")
    if "id" in resource and not isinstance(resource["id"], str):
        raise InvalidResource("id must be a string", expression=[f"{res_type}.id"])
    return Line(number, res_type, resource)


async def write_one(server: Any, session: WriteSession, line: Line) -> None:
    rid = line.resource.get("id")
    if rid is None:
        await create.create(server, session, line.res_type, line.resource)
    else:
        await update.update(server, session, line.res_type, rid, line.resource)


async def write_alone(server: Any, conn: Conn, line: Line, result: Result) -> None:
    """One line in its own savepoint, flushed at once; a race with a concurrent writer is retried, and
    after three a conflict reported for that line."""
    for attempt in range(3):
        try:
            async with conn.transaction():
                session = WriteSession(conn, server.indexer, now())
                await write_one(server, session, line)
                await session.flush()
            result.touched |= session.touched
            result.ok += 1
            return
        except RACES:
            await asyncio.sleep(random.uniform(0.01, 0.1) * (attempt + 1))
        except psycopg.DataError as exc:
            raise BadRequest(f"PostgreSQL cannot store this resource: {str(exc).splitlines()[0]}") from exc
    raise Conflict(f"{line.label} was written by another client at the same time, three times over")


def rounds(lines: list[Line]) -> list[list[Line]]:
    """Lines grouped so that no id comes twice in a group: the n-th line with an id goes to group n."""
    out: list[list[Line]] = [[]]
    seen: dict[tuple[str, str], int] = {}
    for line in lines:
        rid = line.resource.get("id")
        n = 0
        if isinstance(rid, str):
            n = seen[(line.res_type, rid)] = seen.get((line.res_type, rid), -1) + 1
        while len(out) <= n:
            out.append([])
        out[n].append(line)
    return out


async def write_lines(server: Any, conn: Conn, data: bytes, first_line: int, input_no: int, spec: Json,
                      careful: bool) -> Result:
    result = Result()
    src = source(spec, input_no)
    lines: list[Line] = []
    for offset, raw in enumerate(data.split(b"\n")):
        if raw.strip():
            try:
                lines.append(parse_line(raw, first_line + offset, spec, input_no))
            except FhirError as exc:
                result.errors.append(line_error(src, first_line + offset, None, exc))
    when = now()
    for group in rounds(lines):  # each group: one session, its existing rows locked in one query, one flush
        session = WriteSession(conn, server.indexer, when)
        await session.lock([(ln.res_type, ln.resource["id"]) for ln in group if "id" in ln.resource])
        for line in group:
            try:
                if careful or line.res_type in _write_guards:
                    await write_alone(server, conn, line, result)
                else:
                    await write_one(server, session, line)
                    result.ok += 1
            except FhirError as exc:
                result.errors.append(line_error(src, line.number, line.label, exc))
            except psycopg.Error:
                raise
            except Exception as exc:  # a bug on odd content must not sink the other lines
                if not careful:
                    raise
                log.exception("bulk import: %s line %d", src, line.number)
                result.errors.append(line_error(src, line.number, line.label, FhirError(
                    f"The server could not process this resource ({type(exc).__name__})")))
        await session.flush()
        result.touched |= session.touched
    return result


async def write_chunk(server: Any, job_id: str, seq: int) -> list[str]:
    """Write chunk ``seq`` of the job (skipped when done or gone); the resource types written.

    A race with another writer (the same new id created concurrently, a deadlock) is retried as it
    was; anything else the database refuses makes the chunk go again line by line."""
    refused = False
    for attempt in range(ATTEMPTS):
        careful = refused or attempt >= FAST
        try:
            async with server.pool.connection() as conn, conn.transaction():
                # a lost commit only means the chunk is written again: its done mark is lost with it
                await conn.execute("SET LOCAL synchronous_commit TO off")
                cur = await conn.execute(
                    "UPDATE bulk_input SET done = true WHERE job_id = %s AND seq = %s AND NOT done "
                    "RETURNING input_no, first_line, data", (job_id, seq))
                row = await cur.fetchone()
                if row is None:
                    return []
                cur = await conn.execute("SELECT spec FROM bulk_job WHERE id = %s", (job_id,))
                spec_row = await cur.fetchone()
                spec = orjson.loads(spec_row[0]) if spec_row else {}
                data = open_blob(row[2], f"bulk_input/{job_id}/{seq}")
                result = await write_lines(server, conn, data, row[1], row[0], spec, careful)
                await conn.execute("UPDATE bulk_input SET ok = %s, failed = %s WHERE job_id = %s AND seq = %s",
                                   (result.ok, len(result.errors), job_id, seq))
                if result.errors:
                    await conn.execute(
                        "INSERT INTO bulk_part (job_id, file_no, seq, kind, res_type, n, data) "
                        "VALUES (%s, %s, %s, 'error', 'OperationOutcome', %s, %s)",
                        (job_id, ERROR_FILE, seq, len(result.errors), seal_blob(
                            b"\n".join(orjson.dumps(e) for e in result.errors) + b"\n",
                            f"bulk_part/{job_id}/{ERROR_FILE}/{seq}").decode()))
        except RACES as exc:
            if attempt == ATTEMPTS - 1:
                raise
            log.info("bulk import chunk %s/%d raced another writer (%s); again", job_id, seq, type(exc).__name__)
            await asyncio.sleep(random.uniform(0.01, 0.2) * (attempt + 1))
            continue
        except Exception as exc:  # refused by the database (or a bug): again, line by line
            if careful or attempt == ATTEMPTS - 1:
                raise
            log.info("bulk import chunk %s/%d written again line by line: %s", job_id, seq, exc)
            refused = True
            continue
        server.after_commit(result.touched, remote=True)  # this worker's caches; the server process tells the others
        return sorted(result.touched)
    return []
