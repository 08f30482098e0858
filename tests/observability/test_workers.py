"""``fhir-server serve --workers 2 --access-log --log-format json`` as an operator runs it: any worker answering
/metrics reports the requests of both (prometheus_client multiprocess mode), and every log line is a JSON object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import _free_port
from tests.helpers import wait_until_up
from tests.observability.prom import requests, scrape

CLI = [sys.executable, "-m", "fhir_server.cli"]


def _lines(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line.rstrip("\n"))


def _access(lines: list[str]) -> dict[str, dict[str, Any]]:
    """Access lines by request id."""
    out = {}
    for line in list(lines):
        if line.startswith("{"):
            entry = json.loads(line)
            if entry["logger"] == "fhir_server.access":
                out[entry["request_id"]] = entry
    return out


def test_two_workers_one_set_of_metrics_and_json_logs(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_999999.db").write_bytes(b"left over from an earlier run")  # must be cleared at start
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "FHIR_LOG_FORMAT", "FHIR_ACCESS_LOG")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*CLI, "serve", "--workers", "2", "--no-auth", "--access-log", "--log-format", "json",
                             "--data-dir", str(tmp_path / "data"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True).start()
    try:
        wait_until_up(f"{base}/healthz", proc, message="serve did not start:\n", detail=lambda: "\n".join(lines))
        sent: list[str] = []
        while len(sent) < 200:  # until both workers have answered some (each request on a new connection)
            for _ in range(20):
                rid = f"w-{len(sent)}"
                assert httpx.get(f"{base}/metadata", headers={"X-Request-ID": rid}, timeout=30).status_code == 200
                sent.append(rid)
            deadline = time.time() + 20
            while not set(sent) <= set(_access(lines)):
                assert time.time() < deadline, "access lines missing"
                time.sleep(0.1)
            if len({entry["pid"] for entry in _access(lines).values()}) >= 2:
                break
        access = _access(lines)
        assert len({access[rid]["pid"] for rid in sent}) == 2
        line = access[sent[0]]
        assert line["method"] == "GET" and line["path"] == "/metadata" and line["status"] == 200
        assert line["interaction"] == "capabilities" and line["duration_ms"] > 0 and line["level"] == "INFO"
        for _ in range(4):  # whichever worker answers the scrape, it counts the requests of both
            with httpx.Client(base_url=base, timeout=30) as client:
                assert requests(scrape(client), "capabilities") == len(sent)
        assert any(line.startswith("{") and json.loads(line)["logger"].startswith("uvicorn") for line in lines)
    finally:
        proc.terminate()
        proc.wait(60)
    assert not (shared / "counter_999999.db").exists()
    assert not list(shared.glob("gauge_livesum_*.db"))  # the workers left: their live gauges went with them
