"""The embedded PostgreSQL (the ``pgserver`` package), used when ``DATABASE_URL`` is not set.

``pgserver`` keeps one server per data directory and counts the processes that use it, so
``fhir-server serve`` and ``fhir-server load`` can share a running embedded server; the last
process to leave stops it. A process that died without its exit handler (SIGKILL, a crash)
stays in pgserver's list of users, and then nobody would ever be last: ``start_embedded`` drops
such dead processes from the list (``prune_dead_users``) before joining, and again at exit, just
before pgserver's exit handler decides whether this process is the last one.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import warnings
from pathlib import Path

import psutil
import psycopg

log = logging.getLogger(__name__)
DATABASE = "fhir"
HANDLE_LIST = ".handle_pids.json"  # pgserver's list of the processes using a server (PostgresServer.__init__)


def _alive_since(pid: int, listed_at: float) -> bool:
    """Whether ``pid`` is still the process that was put into the list (not dead, a zombie or a reused pid)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # a process started after the list was last written cannot be one of its entries
        return bool(proc.create_time() <= listed_at + 1)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def prune_dead_users(pgdata: Path) -> list[int]:
    """Remove the processes that no longer exist from pgserver's user list of ``pgdata``; return them.

    pgserver adds a process in ``get_server`` and removes it in its exit handler, both under its
    inter-process lock; a killed process never removes itself, so the server would outlive everyone.
    This runs under the same lock.
    """
    from pgserver.postgres_server import PostgresServer

    path = pgdata / HANDLE_LIST
    with PostgresServer._lock:
        try:
            listed_at = path.stat().st_mtime
            pids = [int(pid) for pid in json.loads(path.read_text())]
        except (FileNotFoundError, ValueError, TypeError):
            return []
        alive = [pid for pid in pids if pid == os.getpid() or _alive_since(pid, listed_at)]
        if len(alive) != len(pids):
            path.write_text(json.dumps(alive))
    dead = [pid for pid in pids if pid not in alive]
    if dead:
        log.warning("embedded PostgreSQL in %s: processes %s had died without leaving it; removed from its users",
                    pgdata, dead)
    return dead


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
    prune_dead_users(data_dir / "pg")
    server = pgserver.get_server(  # type: ignore[attr-defined]
        data_dir / "pg", cleanup_mode=cleanup)
    atexit.register(prune_dead_users, data_dir / "pg")  # runs before pgserver's handler (registered earlier)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another process was first
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
    url: str = server.get_uri(DATABASE)
    log.info("embedded PostgreSQL running in %s", data_dir / "pg")
    return url
