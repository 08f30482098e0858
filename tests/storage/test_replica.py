"""DATABASE_READ_URL: reads and searches go to a streaming replica (a real primary + replica pair on loopback,
made with initdb and pg_basebackup for this test)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from tests.conftest import LiveServer, _free_port
from tests.helpers import FHIR_JSON, patient


def _bin() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH  # the PostgreSQL the embedded server ships

    return Path(POSTGRES_BIN_PATH)


class Cluster:
    """One PostgreSQL instance in a folder of its own, listening on 127.0.0.1."""

    def __init__(self, root: Path, name: str, user: str | None) -> None:
        self.data = root / name
        self.port = _free_port()
        self.user = user
        self.sock = root / f"{name}-sock"
        self.sock.mkdir()
        if user:
            shutil.chown(self.sock, user)

    def run(self, *args: str) -> None:
        cmd = [str(_bin() / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.data.parent / f"{self.data.name}.log"),
                 "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.sock}",
                 "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.run("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"


@pytest.fixture()
def pair(pg_admin_url: str) -> Iterator[tuple[Cluster, Cluster]]:
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use the embedded server's own user
        user = "pgserver"  # (made by pgserver when the session's embedded server started as root)
        pwd.getpwnam(user)
    root = Path(tempfile.mkdtemp(prefix="fhir-replica-"))
    if user:
        shutil.chown(root, user)
    primary, replica = Cluster(root, "primary", user), Cluster(root, "replica", user)
    primary.run("initdb", "-D", str(primary.data), "--auth=trust", "-U", "postgres", "--encoding=utf8")
    primary.start()
    try:
        with psycopg.connect(primary.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE fhir")
        replica.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                    "-D", str(replica.data), "-R", "-X", "stream")
        replica.start()
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)


def _found(c, family: str) -> int:  # type: ignore[no-untyped-def]
    return int(c.get("/Patient", params={"family": family}).json()["total"])


def test_reads_go_to_the_replica(pair: tuple[Cluster, Cluster]) -> None:
    primary, replica = pair
    db = SimpleNamespace(url=primary.url("fhir"))
    server = LiveServer(db, auth_enabled=False, database_read_url=replica.url("fhir")).start()  # type: ignore[arg-type]
    try:
        with server.client() as c, psycopg.connect(replica.url("fhir"), autocommit=True) as standby:
            assert standby.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            c.post("/Patient", json=patient("Replicated"), headers=FHIR_JSON)
            deadline = time.time() + 20
            while _found(c, "Replicated") == 0:  # streaming replication: visible after a short lag
                assert time.time() < deadline
                time.sleep(0.1)
            # hold the replica still: what the primary commits now is not seen by reads until replay resumes
            standby.execute("SELECT pg_wal_replay_pause()")
            created = c.post("/Patient", json=patient("Lagging"), headers=FHIR_JSON)
            assert created.status_code == 201
            time.sleep(1.0)
            assert _found(c, "Lagging") == 0
            assert c.get(f"/Patient/{created.json()['id']}").status_code == 404
            with psycopg.connect(primary.url("fhir")) as conn:  # the write went to the primary
                assert conn.execute("SELECT count(*) FROM resource WHERE id = %s",
                                    (created.json()["id"],)).fetchone() == (1,)
            standby.execute("SELECT pg_wal_replay_resume()")
            deadline = time.time() + 20
            while _found(c, "Lagging") == 0:
                assert time.time() < deadline
                time.sleep(0.1)
            names = {r[0] for r in standby.execute("SELECT application_name FROM pg_stat_activity")}
            assert "fhir-read" in names
    finally:
        server.stop()
