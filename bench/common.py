"""Shared pieces of the benchmarks: a server process on a scratch data directory, a keep-alive HTTP client."""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from fhir_server.demo import synthea_files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """``fhir-server serve`` in its own process, on an embedded PostgreSQL in a scratch directory."""

    def __init__(self, data_dir: Path | None = None, extra: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="fhir-bench-"))
        self.port = free_port()
        self.extra = extra or []
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._joined = False

    def __enter__(self) -> ServerProcess:
        cmd = [sys.executable, "-m", "fhir_server.cli", "serve", "--data-dir", str(self.data_dir),
               "--port", str(self.port), *self.extra]
        env = {**os.environ, **self.env}
        env.pop("DATABASE_URL", None)
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/metadata")
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
        if self._joined:  # this process joined the embedded PostgreSQL: it is now the last user, so stop it
            import pgserver

            pgserver.get_server(self.data_dir / "pg", cleanup_mode="stop")._cleanup()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def database_url(self) -> str:
        from fhir_server.storage.embedded import start_embedded

        self._joined = True
        return start_embedded(self.data_dir)


class Client:
    """A keep-alive HTTP/1.1 client (http.client: the lightest there is, so we time the server)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if attempt == 2:  # the server closed an idle keep-alive connection: reconnect once
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        raise AssertionError("unreachable")


def synthea_bundles() -> list[dict[str, Any]]:
    """The 52 packed Synthea transaction Bundles (organisations and practitioners first)."""
    return [orjson.loads(gzip.decompress(f.read_bytes())) for f in synthea_files()]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
