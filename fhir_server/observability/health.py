"""Liveness and readiness probes (draft-inadarei-api-health-check: ``application/health+json``).

- ``/healthz`` — the process is alive and its event loop answers; the database is not asked, so a
  database outage never gets healthy processes restarted.
- ``/readyz`` — the server can serve: PostgreSQL answers on a pooled connection, every migration
  this code ships is applied, and the read replica answers when ``DATABASE_READ_URL`` is set.
  Otherwise 503 with an OperationOutcome saying what is missing, so that a load balancer stops
  sending traffic until it is back.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from fhir_server.errors import operation_outcome
from fhir_server.storage.db import migration_files

HEALTH_MEDIA = "application/health+json"
TIMEOUT = 2.0


@cache
def shipped_migrations() -> dict[int, str]:
    """Version → file name of every migration in this build (read once)."""
    return {version: name for version, name, _ in migration_files()}


def alive() -> tuple[int, dict[str, Any]]:
    return 200, {"status": "pass"}


def _not_ready(diagnostics: str, code: str = "transient") -> tuple[int, dict[str, Any]]:
    return 503, operation_outcome([{"severity": "error", "code": code, "diagnostics": diagnostics}])


async def ready(server: Any, timeout: float = TIMEOUT) -> tuple[int, dict[str, Any]]:
    """(status, body): 200 and a health report, or 503 and an OperationOutcome."""
    if server is None:
        return _not_ready("The server is starting")
    try:
        async with asyncio.timeout(timeout), server.pool.connection(timeout=timeout) as conn:
            cur = await conn.execute("SELECT version FROM schema_migrations")
            applied = {int(row[0]) for row in await cur.fetchall()}
    except TimeoutError:
        return _not_ready(f"The database did not answer within {timeout:g} s", "timeout")
    except Exception as exc:  # connection refused, authentication, missing table: all mean not ready
        return _not_ready(f"The database is not reachable ({type(exc).__name__}: {str(exc).strip()[:200]})")
    missing = [name for version, name in sorted(shipped_migrations().items()) if version not in applied]
    if missing:
        return _not_ready("Database migrations not applied: " + ", ".join(missing) + " (run fhir-server migrate)",
                          "incomplete")
    checks: dict[str, Any] = {
        "postgresql:connection": [{"status": "pass"}],
        "postgresql:migrations": [{"status": "pass", "observedValue": len(applied)}],
    }
    replica = getattr(server, "read_pool", None)
    if replica is not None:
        try:
            async with asyncio.timeout(timeout), replica.connection(timeout=timeout) as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:  # reads and searches go there: without it the server cannot serve them
            return _not_ready(f"The read replica (DATABASE_READ_URL) is not reachable ({type(exc).__name__})")
        checks["postgresql-replica:connection"] = [{"status": "pass"}]
    return 200, {"status": "pass", "checks": checks}
