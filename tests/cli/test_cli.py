"""The ``fhir-server`` command as a user runs it: serve on an embedded PostgreSQL, load into it while it runs."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import _free_port
from tests.helpers import wait_until_up

CLI = [sys.executable, "-m", "fhir_server.cli"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    return env


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=_env())


def test_help_teaches_the_commands() -> None:
    out = _run("--help").stdout
    for word in ("serve", "migrate", "load", "fhirpath", "DATABASE_URL", "--demo"):
        assert word in out
    serve_help = _run("serve", "--help").stdout
    assert "--port" in serve_help and "8080" in serve_help and "--data-dir" in serve_help


def test_load_reports_missing_paths(tmp_path: Path) -> None:
    result = _run("load", str(tmp_path / "nope.json"), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    assert "No such file" in result.stderr


def test_serve_and_load_share_the_embedded_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    server = subprocess.Popen([*CLI, "serve", "--data-dir", str(data), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env())
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/metadata", server)
        files = tmp_path / "in"
        files.mkdir()
        (files / "patient.json").write_text(json.dumps(
            {"resourceType": "Patient", "id": "cli-pat", "name": [{"family": "Loaded"}]}))
        (files / "obs.ndjson").write_text("\n".join(json.dumps(
            {"resourceType": "Observation", "id": f"cli-obs-{i}", "status": "final", "code": {"text": "x"},
             "subject": {"reference": "Patient/cli-pat"}}) for i in range(3)) + "\n")
        (files / "broken.json").write_text('{"resourceType": "Patient", "gender": 7}')
        result = _run("load", str(files), "--data-dir", str(data), "--quiet")
        assert "loaded 4 resources" in result.stdout, result.stdout + result.stderr
        assert "broken.json" in result.stdout and result.returncode == 1
        got = httpx.get(f"{base}/Patient/cli-pat", timeout=10)
        assert got.status_code == 200 and got.json()["name"][0]["family"] == "Loaded"
        found = httpx.get(f"{base}/Observation", params={"subject": "Patient/cli-pat"}, timeout=10).json()
        assert sorted(e["resource"]["id"] for e in found["entry"]) == ["cli-obs-0", "cli-obs-1", "cli-obs-2"]
        assert "database is up to date" in _run("migrate", "--data-dir", str(data)).stdout
    finally:
        server.terminate()
        server.wait(30)
    # the last process using the embedded server stopped it
    time.sleep(1)
    assert not (data / "pg" / "postmaster.pid").exists()


def test_two_worker_processes_behave_as_one_server(tmp_path: Path) -> None:
    """serve --workers 2: both processes share the database; concurrent identical conditional creates
    spread over them still make exactly one resource."""
    from concurrent.futures import ThreadPoolExecutor

    import psutil

    data = tmp_path / "data"
    port = _free_port()
    server = subprocess.Popen([*CLI, "serve", "--workers", "2", "--no-auth", "--data-dir", str(data),
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/metadata", server)
        workers = [p for p in psutil.Process(server.pid).children(recursive=True) if "postgres" not in p.name()]
        assert len(workers) >= 2
        body = json.dumps({"resourceType": "Patient", "identifier": [{"system": "urn:w", "value": "one"}]})
        headers = {"Content-Type": "application/fhir+json", "If-None-Exist": "identifier=urn:w|one"}

        def post(_: int) -> int:
            with httpx.Client(base_url=base, timeout=60) as c:  # a new connection each: spread over workers
                return c.post("/Patient", content=body, headers=headers).status_code

        with ThreadPoolExecutor(12) as pool:
            statuses = sorted(pool.map(post, range(24)))
        assert statuses == [200] * 23 + [201]
        found = httpx.get(f"{base}/Patient", params={"identifier": "urn:w|one"}, timeout=10).json()
        assert found["total"] == 1
    finally:
        server.terminate()
        server.wait(30)


def test_reindex_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = tmp_path / "in"
    files.mkdir()
    (files / "p.json").write_text(json.dumps({"resourceType": "Patient", "id": "rx", "name": [{"family": "Re"}]}))
    assert _run("load", str(files), "--data-dir", str(data), "--quiet").returncode == 0
    result = _run("reindex", "--type", "Patient", "--data-dir", str(data))
    assert result.returncode == 0 and "re-indexed 1 resources" in result.stdout
    bad = _run("reindex", "--type", "Nope", "--data-dir", str(data))
    assert bad.returncode == 2 and "Nope" in bad.stderr


def _start_serve(data: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([*CLI, "serve", "--data-dir", str(data), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    deadline = time.time() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        assert time.time() < deadline and server.poll() is None, "serve did not start"
        time.sleep(0.3)


def _postgres_of(data: Path) -> list[int]:
    """The postgres processes whose data directory is ``data``/pg."""
    import psutil

    pgdata = str((data / "pg").resolve())
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and any(pgdata in part for part in cmdline):
            found.append(proc.pid)
    return found


def test_killed_serve_leaves_no_postgres_behind_after_the_next_serve(tmp_path: Path) -> None:
    """serve killed with SIGKILL cannot stop its embedded PostgreSQL; the next serve on that data
    directory joins it and, when it ends normally, is the last user and stops it."""
    import signal

    data = tmp_path / "data"
    try:
        first = _start_serve(data, _free_port())
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert _postgres_of(data), "the killed server's PostgreSQL is expected to survive it"
        assert first.pid in json.loads((data / "pg" / ".handle_pids.json").read_text())
        second = _start_serve(data, _free_port())
        try:
            assert first.pid not in json.loads((data / "pg" / ".handle_pids.json").read_text())
        finally:
            second.terminate()
            assert second.wait(60) == 0
        deadline = time.time() + 30
        while _postgres_of(data) and time.time() < deadline:
            time.sleep(0.3)
        assert _postgres_of(data) == []
        assert not (data / "pg" / "postmaster.pid").exists()
    finally:
        for pid in _postgres_of(data):  # never leave a server behind, even when the test fails
            os.kill(pid, signal.SIGINT)


def _subcommands(p: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, p)]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _subcommands(child, f"{path} {name}")
    return found


def test_every_subcommand_and_option_has_help() -> None:
    """`COMMAND --help` says what the command does and what each of its arguments means."""
    from conformance.runner.cli import parser as conformance_parser
    from fhir_server.cli import parser

    for path, p in _subcommands(parser(), "fhir-server") + _subcommands(conformance_parser(), "fhir-conformance"):
        if path not in ("fhir-server fhirpath",):  # fhirpath has its own parser (checked below)
            assert p.description, f"{path} --help has no description"
        for action in p._actions:
            if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction | argparse._VersionAction):
                assert action.help, f"{path}: {action.option_strings or action.dest} has no help text"
    for command in ("reindex", "migrate", "launch"):
        out = _run(command, "--help").stdout
        assert out.count("\n\n") >= 2 and "options:" in out  # usage, description, options
    assert "expression" in _run("fhirpath", "--help").stdout


def test_the_last_live_process_stops_postgres_when_another_user_was_killed(tmp_path: Path) -> None:
    """Two serve processes share the embedded PostgreSQL; one is killed with SIGKILL; the other, ending
    normally, is the last live user and stops the server."""
    import signal

    data = tmp_path / "data"
    try:
        killed = _start_serve(data, _free_port())
        survivor = _start_serve(data, _free_port())
        killed.send_signal(signal.SIGKILL)
        killed.wait(30)
        survivor.terminate()
        assert survivor.wait(60) == 0
        deadline = time.time() + 30
        while _postgres_of(data) and time.time() < deadline:
            time.sleep(0.3)
        assert _postgres_of(data) == []
    finally:
        for pid in _postgres_of(data):  # never leave a server behind, even when the test fails
            os.kill(pid, signal.SIGINT)
