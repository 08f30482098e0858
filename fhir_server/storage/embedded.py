"""The embedded PostgreSQL (the ``pgserver`` package), used when ``DATABASE_URL`` is not set.

``pgserver`` keeps one server per data directory and counts the processes that use it, so
``fhir-server serve`` and ``fhir-server load`` can share a running embedded server; the last
process to leave stops it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)
DATABASE = "fhir"


def start_embedded(data_dir: Path, cleanup: str = "stop") -> str:
    """Start (or join) the embedded PostgreSQL in ``data_dir/pg``; return a connection URL to its ``fhir`` DB.

    ``cleanup``: what the last process using it does at exit: ``stop`` it, or ``delete`` its files too.
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"runtime-{os.getuid()}"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        data_dir / "pg", cleanup_mode=cleanup)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another process was first
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
    url: str = server.get_uri(DATABASE)
    log.info("embedded PostgreSQL running in %s", data_dir / "pg")
    return url
