"""Abuse protection over HTTP: account lockout after repeated failures with a cool-down, the same answers for
accounts that exist and names that do not, and per-address rate limits on the sign-in, token and
registration endpoints — 429 with ``Retry-After`` (RFC 6585 §4) — counted in PostgreSQL, so that two server
processes on one database share them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Database, LiveServer, _free_port
from tests.helpers import wait_until_up
from tests.smart_auth.accounts.helpers import login, start
from tests.smart_auth.conftest import ADMIN, REDIRECT, add_user, auth_server, register


def _error(page: httpx.Response) -> str:
    return page.text.split('role="alert">')[1].split("</p>")[0]


def test_lockout_after_failures_then_cool_down(acct: LiveServer, app: dict[str, str]) -> None:
    user = add_user(acct, "Practitioner/locked")
    seen: dict[str, list[tuple[int, str]]] = {}
    for name in (user, "no-such-user-" + user):  # an account, and a name that matches none
        answers = []
        for _ in range(3):
            browser, page, _, _ = start(acct, app["client_id"])
            page = login(browser, page, name, "wrong password!")
            answers.append((page.status_code, _error(page)))
        seen[name] = answers
        assert [s for s, _ in answers] == [401, 401, 429]
        browser, page, _, _ = start(acct, app["client_id"])
        locked = login(browser, page, name)  # the right password (for the account) is refused while locked
        assert locked.status_code == 429 and 1 <= int(locked.headers["retry-after"]) <= 3
        assert "paused" in _error(locked) and "smart_session" not in browser.http.cookies
    assert seen[user] == seen["no-such-user-" + user]  # the answers do not tell whether the account exists
    time.sleep(3.2)  # the cool-down (lockout_seconds = 3)
    browser, page, _, _ = start(acct, app["client_id"])
    assert login(browser, page, user).status_code == 200


@pytest.fixture(scope="module")
def limited(pg_admin_url: str) -> Iterator[LiveServer]:
    server = auth_server(pg_admin_url, rate_login=4, rate_token=4, rate_register=3, rate_window=60)
    yield server
    server.stop()


def test_rate_limits_answer_429_with_retry_after(limited: LiveServer) -> None:
    app = register(limited)  # one registration of the 3 allowed
    browser, page, _, _ = start(limited, app["client_id"])
    statuses = [login(browser, page, "someone", "wrong password!").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 429], statuses
    blocked = login(browser, page, "someone", "wrong password!")
    assert 1 <= int(blocked.headers["retry-after"]) <= 60 and "too many attempts" in blocked.text
    data = {"grant_type": "authorization_code", "client_id": app["client_id"], "code": "x", "code_verifier": "y" * 43,
            "redirect_uri": REDIRECT}
    answers = [httpx.post(f"{limited.base}/auth/token", data=data) for _ in range(5)]
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 429]
    assert answers[-1].json()["error"] == "temporarily_unavailable" and int(answers[-1].headers["retry-after"]) > 0
    meta = {"client_name": "x", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}
    regs = [httpx.post(f"{limited.base}/auth/register", json=meta, headers={"Authorization": f"Bearer {ADMIN}"})
            for _ in range(3)]
    assert [r.status_code for r in regs] == [201, 201, 429]
    assert httpx.get(f"{limited.base}/metadata").status_code == 200  # the FHIR API is not limited here


def test_rate_limit_is_shared_by_server_processes(pg_admin_url: str) -> None:
    db = Database(pg_admin_url)
    server = auth_server(pg_admin_url, db=db, rate_token=6)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db.url, "FHIR_AUTH_RATE_TOKEN": "6"}
    env.pop("FHIR_AUTH_DISABLED", None)
    proc = subprocess.Popen([sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    other = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{other}/metadata", proc)
        data = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nobody"}
        codes = [httpx.post(f"{base}/auth/token", data=data).status_code
                 for base in (server.base, other, server.base, other, server.base, other)]
        assert codes == [401] * 6  # six requests, three in each process: within the limit
        assert httpx.post(f"{server.base}/auth/token", data=data).status_code == 429
        assert httpx.post(f"{other}/auth/token", data=data).status_code == 429
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        server.stop()
