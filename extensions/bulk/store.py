"""Bulk Data job state (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-status-request): the
``bulk_job`` row of a kick-off, claimed by one server process at a time under a lease.

A job is queued by its kick-off, claimed by a process (``claim``: ``FOR UPDATE SKIP LOCKED``, only
when no other process holds a live lease), kept alive by that process's heartbeat (``renew``) and
finished or failed by it. A process that dies stops renewing; when the lease runs out another
process claims the job and resumes it from the progress saved with each part. Deleting the row
(the client's DELETE) cancels the job: the runner's next check finds it gone.

SQL conditions computed at kick-off (the caller's access restriction, ``_typeFilter``) are kept in
the job with their arguments, typed (``encode_args``), because the job runs after the request
and its token are gone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from fhir_server.search.sql import Cond
from fhir_server.storage.repository import Conn

Json = dict[str, Any]
_COLS = ("id, kind, status, client_id, request, spec, state, transaction_time, expires, error_status, error, owner, "
         "runs")


@dataclass(slots=True)
class Job:
    id: str
    kind: str  # export | import
    status: str  # queued | running | done | failed
    client_id: str | None
    request: str
    spec: Json
    state: Json
    transaction_time: datetime
    expires: datetime | None
    error_status: int | None
    error: str | None
    owner: str | None
    runs: int = 0  # how many times a process claimed it

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(row[0], row[1], row[2], row[3], row[4], _json(row[5]), _json(row[6]), row[7], row[8], row[9],
                   row[10], row[11], row[12])


def _json(value: Any) -> Json:
    data = orjson.loads(value) if isinstance(value, bytes | str) else value
    return data if isinstance(data, dict) else {}


def new_id() -> str:
    return uuid.uuid4().hex


async def create(conn: Conn, job_id: str, kind: str, client_id: str | None, request: str, spec: Json,
                 transaction_time: datetime, state: Json | None = None) -> None:
    await conn.execute(
        "INSERT INTO bulk_job (id, kind, client_id, request, spec, state, transaction_time) "
        "VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)",
        (job_id, kind, client_id, request, orjson.dumps(spec).decode(), orjson.dumps(state or {}).decode(),
         transaction_time))


async def get(conn: Conn, job_id: str) -> Job | None:
    cur = await conn.execute(f"SELECT {_COLS} FROM bulk_job WHERE id = %s", (job_id,))
    row = await cur.fetchone()
    return Job.from_row(row) if row else None


async def claim(conn: Conn, owner: str, lease: float) -> Job | None:
    """Take the oldest job that is queued, or running under a lease that has run out."""
    cur = await conn.execute(
        f"UPDATE bulk_job SET status = 'running', owner = %s, runs = runs + 1, "
        f"lease_until = clock_timestamp() + %s * interval '1 second' "
        f"WHERE id = (SELECT id FROM bulk_job WHERE status IN ('queued', 'running') "
        f"AND (lease_until IS NULL OR lease_until < clock_timestamp()) ORDER BY created LIMIT 1 "
        f"FOR UPDATE SKIP LOCKED) RETURNING {_COLS}",
        (owner, lease))
    row = await cur.fetchone()
    return Job.from_row(row) if row else None


async def renew(conn: Conn, owner: str, lease: float) -> set[str]:
    """Extend the leases of this process's running jobs; the ids it still holds."""
    cur = await conn.execute(
        "UPDATE bulk_job SET lease_until = clock_timestamp() + %s * interval '1 second' "
        "WHERE owner = %s AND status = 'running' RETURNING id", (lease, owner))
    return {r[0] for r in await cur.fetchall()}


async def release(conn: Conn, owner: str) -> None:
    """Let other processes take this process's running jobs at once (a clean shutdown)."""
    await conn.execute("UPDATE bulk_job SET lease_until = NULL, owner = NULL WHERE owner = %s AND status = 'running'",
                       (owner,))


async def lock_own(conn: Conn, job_id: str, owner: str) -> Json | None:
    """Inside a transaction: lock the job if this process still runs it; its saved state (None: lost)."""
    cur = await conn.execute("SELECT state FROM bulk_job WHERE id = %s AND owner = %s AND status = 'running' "
                             "FOR UPDATE", (job_id, owner))
    row = await cur.fetchone()
    return _json(row[0]) if row else None


async def save_state(conn: Conn, job_id: str, state: Json) -> None:
    await conn.execute("UPDATE bulk_job SET state = %s::jsonb WHERE id = %s", (orjson.dumps(state).decode(), job_id))


async def finish(conn: Conn, job_id: str, owner: str, retention_hours: float) -> None:
    await conn.execute(
        "UPDATE bulk_job SET status = 'done', finished = clock_timestamp(), lease_until = NULL, "
        "expires = clock_timestamp() + %s WHERE id = %s AND owner = %s",
        (timedelta(hours=retention_hours), job_id, owner))


async def fail(conn: Conn, job_id: str, owner: str, status: int, message: str, retention_hours: float) -> None:
    await conn.execute(
        "UPDATE bulk_job SET status = 'failed', finished = clock_timestamp(), lease_until = NULL, "
        "error_status = %s, error = %s, expires = clock_timestamp() + %s WHERE id = %s AND owner = %s",
        (status, message[:2000], timedelta(hours=retention_hours), job_id, owner))


async def delete(conn: Conn, job_id: str) -> bool:
    cur = await conn.execute("DELETE FROM bulk_job WHERE id = %s", (job_id,))
    return cur.rowcount > 0


async def purge_expired(conn: Conn) -> int:
    cur = await conn.execute("DELETE FROM bulk_job WHERE expires < clock_timestamp()")
    return cur.rowcount


# ---- SQL conditions kept in a job --------------------------------------------------------------


class _Patients:
    """Stands for the job's patient list in a condition's arguments (kept once in the job, not per type)."""


PATIENTS = _Patients()


def _encode(value: Any) -> Any:
    if value is PATIENTS:
        return {"$": "patients"}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return {"$": "dec", "v": str(value)}
    if isinstance(value, datetime):
        return {"$": "dt", "v": value.isoformat()}
    if isinstance(value, date):
        return {"$": "d", "v": value.isoformat()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    raise TypeError(f"a search argument of type {type(value).__name__} cannot be kept in a bulk job")


def _decode(value: Any, patients: list[str] | None) -> Any:
    if isinstance(value, list):
        return [_decode(v, patients) for v in value]
    if isinstance(value, dict):
        kind, text = value.get("$"), str(value.get("v"))
        if kind == "patients":
            return list(patients or [])
        if kind == "dec":
            return Decimal(text)
        if kind == "dt":
            return datetime.fromisoformat(text)
        if kind == "d":
            return date.fromisoformat(text)
        raise ValueError(f"unknown kept argument {value!r}")
    return value


def encode_cond(cond: Cond) -> Json:
    return {"sql": cond.sql, "args": [_encode(a) for a in cond.args]}


def decode_cond(data: Json, patients: list[str] | None = None) -> Cond:
    return Cond(str(data["sql"]), [_decode(a, patients) for a in data.get("args", [])])
