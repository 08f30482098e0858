"""Client input never causes a 500 on the account endpoints (DESIGN.md conventions): random and broken form
fields, query strings, JSON bodies and headers, with and without a valid CSRF token and session."""

from __future__ import annotations

import random
import string

import httpx

from tests.conftest import LiveServer
from tests.smart_auth.accounts.helpers import hidden, login, start
from tests.smart_auth.conftest import ADMIN, add_user

PAGES = ["login", "mfa", "mfa/enrol", "mfa/setup", "continue", "account", "logout", "signup", "verify", "forgot",
         "reset", "oidc/start", "oidc/callback", "select", "consent"]
FIELDS = ["request", "username", "password", "code", "token", "email", "name", "birthdate", "patient", "provider",
          "state", "error", "decision", "scope_0", "csrf"]
JUNK = ["", "%", "%ZZ", "\x00", "a" * 3000, "é", "=", "&&", "[]", "{}", "..", "1985-13-45", "0000-00-00",
        "x@y", "@", "999999", "abcde-fghij", "google", "-1", "None"]


def test_account_endpoints_never_answer_500(acct: LiveServer, app: dict[str, str]) -> None:
    rng = random.Random(11)
    user = add_user(acct, "Practitioner/fuzz")
    browser, page, _, _ = start(acct, app["client_id"])
    signed_in = login(browser, page, user)
    assert signed_in.status_code == 200
    csrf = hidden(page, 0)["csrf"]
    for _ in range(250):
        path = rng.choice(PAGES)
        fields = {rng.choice(FIELDS): rng.choice(JUNK) + rng.choice(string.printable) for _ in range(rng.randint(0, 5))}
        if rng.random() < 0.7:
            fields["csrf"] = csrf
        method = rng.choice(["GET", "POST"])
        client = browser.http if rng.random() < 0.6 else httpx.Client()
        resp = client.request(method, f"{acct.base}/auth/{path}", data=fields if method == "POST" else None,
                              params=fields if method == "GET" else None, timeout=60)
        assert resp.status_code < 500, (path, method, fields, resp.status_code, resp.text[:500])
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for body in (b"{", b"[]", b'{"email": 5}', b'{"email": "a@b.co", "name": "\\u0000"}', b"\xff",
                 b'{"email": "a@b.co", "name": "x", "role": ["admin"]}', b'{"email": "a@b.co", "name": "x", '
                 b'"fhirUser": "Patient/' + b"1" * 100 + b'"}'):
        resp = httpx.post(f"{acct.base}/auth/admin/users", content=body, headers=admin)
        assert resp.status_code == 400, (body, resp.status_code, resp.text)
    for path in ("/auth/admin/users/%00/disable", "/auth/admin/users/x/explode", "/auth/admin/users/" + "a" * 3000
                 + "/enable"):
        assert httpx.post(acct.base + path, headers=admin).status_code in (400, 404)
