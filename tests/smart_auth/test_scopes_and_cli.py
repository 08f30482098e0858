"""SMART scopes as the spec writes them (scopes-and-launch-context.html), and the operator commands
(``fhir-server serve`` with authorization on by default, ``--no-auth``, ``clients``, ``users``, ``token``)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from smart_auth.scopes import ScopeError, Scopes, parse_clinical
from tests.conftest import LiveServer, _free_port
from tests.helpers import wait_until_up
from tests.smart_auth.conftest import bearer

CLI = [sys.executable, "-m", "fhir_server.cli"]


def test_v1_and_v2_scopes() -> None:
    assert parse_clinical("patient/Observation.read").perms == frozenset("rs")  # v1 read = v2 rs
    assert parse_clinical("user/*.write").perms == frozenset("cud")
    assert parse_clinical("user/*.*").perms == frozenset("cruds")
    assert parse_clinical("patient/Observation.rs").perms == frozenset("rs")
    constrained = parse_clinical("patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
                                 "observation-category|laboratory")
    assert constrained.query == (("category",
                                  "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"),)
    for bad in ("patient/Observation.sr", "patient/Observation.rr", "patient/Observation.x", "patient/Nope.rs",
                "group/Observation.rs", "patient/Observation.read?category=x", "patient/Observation.rs?category"):
        with pytest.raises(ScopeError):
            parse_clinical(bad)
    parsed = Scopes.parse("openid fhirUser launch/patient offline_access patient/*.rs email")
    assert parsed.other == ("openid", "fhirUser", "launch/patient", "offline_access")  # unknown 'email' dropped


def test_grant_narrowing() -> None:
    allowed = Scopes.parse("patient/*.rs user/Observation.cruds openid")
    granted = Scopes.parse("patient/*.cruds user/*.read openid profile").intersect(allowed)
    assert granted.text == "openid patient/*.rs user/Observation.rs"
    assert Scopes.parse("patient/Observation.r").within(Scopes.parse("patient/*.rs"))
    assert not Scopes.parse("patient/Observation.c").within(Scopes.parse("patient/*.rs"))
    assert not Scopes.parse("user/Observation.r").within(Scopes.parse("patient/*.rs"))
    assert Scopes.parse("patient/Observation.rs?category=lab").within(Scopes.parse("patient/Observation.rs"))
    assert not Scopes.parse("patient/Observation.rs").within(Scopes.parse("patient/Observation.rs?category=lab"))


def _run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, env=env, input=stdin)


def test_operator_commands(auth: LiveServer) -> None:
    env = {**os.environ, "DATABASE_URL": auth.db.url, "FHIR_BASE_URL": auth.base}
    env.pop("FHIR_AUTH_DISABLED", None)
    added = _run("clients", "add", "CLI app", "--type", "confidential", "--redirect-uri",
                 "https://app.example/cb", env=env)
    assert added.returncode == 0, added.stderr
    client = json.loads(added.stdout)
    assert client["client_secret"] and client["token_endpoint_auth_method"] == "client_secret_basic"
    listed = _run("clients", "list", env=env)
    assert client["client_id"] in listed.stdout and "CLI app" in listed.stdout
    bad = _run("clients", "add", "Bad", "--type", "public", "--redirect-uri", "http://example.com/cb", env=env)
    assert bad.returncode == 2 and "loopback" in bad.stderr
    assert _run("users", "add", "clara", "--fhir-user", "Practitioner/42", env=env, stdin="a long password\n") \
        .returncode == 0
    minted = _run("token", "--scope", "user/Patient.rs", "--user", "clara", env=env)
    assert minted.returncode == 0, minted.stderr
    tok = minted.stdout.strip()
    assert httpx.get(f"{auth.base}/Patient", headers=bearer(tok)).status_code == 200
    assert httpx.get(f"{auth.base}/Observation", headers=bearer(tok)).status_code == 403
    assert _run("token", "--scope", "nonsense/x", env=env).returncode == 2


def _serve(env: dict[str, str], *extra: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            if httpx.get(f"{base}/metadata", timeout=5).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        assert time.time() < deadline and proc.poll() is None, "serve did not start"
        time.sleep(0.3)


def test_serve_is_protected_by_default_and_no_auth_warns(auth: LiveServer) -> None:
    env = {**os.environ, "DATABASE_URL": auth.db.url}
    env.pop("FHIR_AUTH_DISABLED", None)
    proc, base = _serve(env)
    try:
        resp = httpx.get(f"{base}/Patient")
        assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert "fhir-server token" in out
    proc, base = _serve(env, "--no-auth")
    try:
        assert httpx.get(f"{base}/Patient").status_code == 200
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert "authorization is OFF" in out


def test_token_without_flags_works_on_any_port(tmp_path: Path) -> None:
    """serve on a port other than 8080 records the base URL it announces; 'fhir-server token' (and the
    command serve prints) then signs for that base without --base-url. A token names one base: the same
    server reached under another Host is another base, and refuses it."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "FHIR_BASE_URL", "FHIR_AUTH_DISABLED")}
    data = tmp_path / "data"
    log = tmp_path / "serve.out"
    port = _free_port()
    with log.open("w") as out:
        proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--data-dir", str(data)], stdout=out,
                                stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/metadata", proc)
        minted = _run("token", "--scope", "user/*.rs", "--data-dir", str(data), env=env)
        assert minted.returncode == 0, minted.stderr
        token = minted.stdout.strip()
        assert httpx.get(f"{base}/Patient", headers=bearer(token)).status_code == 200
        other_host = httpx.get(f"{base}/Patient", headers=bearer(token, Host=f"localhost:{port}"))
        assert other_host.status_code == 401
        assert "another FHIR base URL" in other_host.json()["issue"][0]["diagnostics"]
        # the command serve printed, as printed
        hint = next(line for line in log.read_text().splitlines() if "fhir-server token" in line)
        assert base in hint
        words = shlex.split(hint[hint.index("fhir-server token"):])
        printed = _run(*words[1:], env=env)
        assert printed.returncode == 0, printed.stderr
        assert httpx.get(f"{base}/Patient", headers=bearer(printed.stdout.strip())).status_code == 200
    finally:
        proc.terminate()
        proc.wait(60)
