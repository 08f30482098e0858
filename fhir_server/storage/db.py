"""Database connections: the async pool, raw JSONB loading and the versioned migrations.

JSONB columns come back as raw ``bytes`` (no parsing): a read sends the stored JSON as it is.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)
MIGRATION_LOCK = 727_001  # pg_advisory_lock key: one migrator at a time


class RawJsonLoader(Loader):
    """Load json/jsonb as the bytes PostgreSQL sent (the JSON text)."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


def register_raw_json(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_loader("jsonb", RawJsonLoader)
    conn.adapters.register_loader("json", RawJsonLoader)


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    register_raw_json(conn)
    await conn.execute("SET jit = off")  # JIT only slows the short queries a FHIR server runs
    await conn.set_autocommit(True)


class FhirConnection(psycopg.AsyncConnection[Any]):
    """A pooled connection with one reusable cursor for the single-row reads of the hot path."""

    _reader: psycopg.AsyncCursor[Any] | None = None

    @property
    def reader(self) -> psycopg.AsyncCursor[Any]:
        if self._reader is None or self._reader.closed:
            self._reader = self.cursor()
        return self._reader


def make_pool(url: str, min_size: int = 2, max_size: int = 16, name: str = "fhir-server") -> AsyncConnectionPool:
    """The async pool; ``name`` is the PostgreSQL ``application_name`` of its connections."""
    return AsyncConnectionPool(
        url,
        connection_class=FhirConnection,
        min_size=min_size,
        max_size=max_size,
        configure=_configure,
        open=False,
        kwargs={"autocommit": True, "application_name": name},
    )


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every shipped migration, in order."""
    out = []
    folder = resources.files("fhir_server.storage").joinpath("migrations")
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text()))
    return sorted(out)


def migrate(url: str) -> list[str]:
    """Apply the migrations not yet applied (safe when several processes start at once)."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                applied.append(name)
                log.info("applied migration %s", name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return applied
