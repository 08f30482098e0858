"""Fixtures for the authorization tests: one server with authorization on (real PostgreSQL, real HTTP),
clients registered over RFC 7591, accounts, tokens minted by the operator tool, and a scripted browser
that walks the login, patient-picker and consent pages like a person would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import psycopg
import pytest

from fhir_server.config import Settings
from smart_auth import users
from smart_auth.cli import mint
from tests.conftest import Database, LiveServer

ADMIN = "admin-" + secrets.token_urlsafe(16)
REDIRECT = "http://127.0.0.1:9/callback"
FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
PASSWORD = "correct horse battery staple"


# The shared server: plain HTTP (so no Secure cookies), and rate limits far above what the suite sends from
# 127.0.0.1; tests/smart_auth/accounts start servers with the real limits.
TEST_CONFIG: dict[str, Any] = {"cookie_secure": False, "rate_login": 100_000, "rate_token": 100_000,
                               "rate_register": 100_000}


def auth_server(pg_admin_url: str, db: Database | None = None, **config: Any) -> LiveServer:
    """A server with authorization on; ``config`` overrides its ``AuthConfig`` (as FHIR_AUTH_* would)."""
    server = LiveServer(db or Database(pg_admin_url), auth_enabled=True, auth_admin_token=ADMIN)
    layer = server.app.state.auth
    layer.config = replace(layer.config, **{**TEST_CONFIG, **config})
    return server.start()


@pytest.fixture(scope="session")
def auth(pg_admin_url: str) -> Iterator[LiveServer]:
    server = auth_server(pg_admin_url)
    yield server
    server.stop()


def run_db(server: LiveServer, job: Any) -> Any:
    async def go() -> Any:
        async with await psycopg.AsyncConnection.connect(server.db.url, autocommit=True) as conn:
            return await job(conn)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(go())
    with ThreadPoolExecutor(1) as pool:  # a loop runs here already (Playwright's sync API): use another thread
        return pool.submit(asyncio.run, go()).result()


def token(server: LiveServer, scope: str, patient: str | None = None, user: str | None = None,
          seconds: int = 600) -> str:
    """An access token from the operator tool (the code behind ``fhir-server token``)."""
    return str(run_db(server, lambda conn: mint(conn, Settings(), scope, server.base, seconds, patient, user)))


def bearer(access_token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}", **extra}


def add_user(server: LiveServer, fhir_user: str | None = None) -> str:
    name = "u" + uuid.uuid4().hex[:10]
    run_db(server, lambda conn: users.add_user(conn, name, PASSWORD, fhir_user, f"User {name}"))
    return name


def register(server: LiveServer, **metadata: Any) -> dict[str, Any]:
    """A client registered through RFC 7591 dynamic registration."""
    body = {"client_name": "test app", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", **metadata}
    resp = httpx.post(f"{server.base}/auth/register", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


def pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) computed as RFC 7636 §4.1-4.2 defines them."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def create(server: LiveServer, resource: dict[str, Any], access_token: str | None = None) -> dict[str, Any]:
    tok = access_token or token(server, "system/*.cruds")
    resp = httpx.post(f"{server.base}/{resource['resourceType']}", json=resource, headers=bearer(tok, **FHIR))
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


class Forms(HTMLParser):
    """The forms of a page: action, method and the inputs (radio/checkbox values listed)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "inputs": []})
        elif tag in ("input", "button") and self.forms:
            self.forms[-1]["inputs"].append(a)


def forms(html: str) -> list[dict[str, Any]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


class Browser:
    """A person in a browser: follows the authorize flow by reading and submitting the HTML forms."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.http = httpx.Client(timeout=60, follow_redirects=False, event_hooks={"request": [self._loopback]})

    def _loopback(self, request: httpx.Request) -> None:
        """Send ``Secure`` cookies to 127.0.0.1 over plain HTTP too, as browsers do (a loopback address is a
        "potentially trustworthy origin", Secure Contexts §3.2); httpx keeps them for https only."""
        if request.url.host not in ("127.0.0.1", "localhost"):
            return
        pairs = [f"{c.name}={c.value}" for c in self.http.cookies.jar
                 if c.domain.lstrip(".") in (request.url.host, request.url.host + ".local")
                 and request.url.path.startswith(c.path or "/")]
        if pairs:
            request.headers["Cookie"] = "; ".join(pairs)

    def authorize(self, **params: str) -> httpx.Response:
        return self.http.get(f"{self.server.base}/auth/authorize?{urlencode(params)}")

    def submit(self, page: httpx.Response, values: dict[str, str], button: str | None = None,
               index: int = -1) -> httpx.Response:
        form = forms(page.text)[index]
        data = {i["name"]: i.get("value", "") for i in form["inputs"]
                if i.get("type") == "hidden" or (i.get("type") == "checkbox" and "checked" in i)}
        data.update(values)
        if button:
            data["decision"] = button
        return self.http.post(form["action"], data=data)

    def login(self, page: httpx.Response, username: str, password: str = PASSWORD) -> httpx.Response:
        assert "Sign in" in page.text, page.text
        return self.submit(page, {"username": username, "password": password})

    def pick(self, page: httpx.Response, patient_id: str) -> httpx.Response:
        assert "Choose a patient" in page.text, page.text
        radios = [i["value"] for i in forms(page.text)[-1]["inputs"] if i.get("type") == "radio"]
        assert patient_id in radios, radios
        return self.submit(page, {"patient": patient_id})

    def consent(self, page: httpx.Response, allow: bool = True) -> httpx.Response:
        assert "Allow" in page.text, page.text
        return self.submit(page, {}, "allow" if allow else "deny")


def redirect_params(resp: httpx.Response, redirect_uri: str = REDIRECT) -> dict[str, str]:
    """The query of a redirect to the app (RFC 6749 §4.1.2): 302 to the registered redirect URI."""
    assert resp.status_code in (302, 303), (resp.status_code, resp.text)
    location = resp.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token_request(server: LiveServer, data: dict[str, str], auth: tuple[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.base}/auth/token", data=data, auth=auth)


def authorize_params(server: LiveServer, client_id: str, challenge: str, scope: str, **extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
            "state": secrets.token_urlsafe(8), "aud": server.base, "code_challenge": challenge,
            "code_challenge_method": "S256", **extra}


def code_flow(server: LiveServer, client_id: str, username: str, scope: str, patient: str | None = None,
              **extra: str) -> tuple[dict[str, str], str]:
    """Walk a launch through the pages; (the redirect's parameters, the code_verifier)."""
    verifier, challenge = pkce()
    browser = Browser(server)
    params = authorize_params(server, client_id, challenge, scope, **extra)
    page = browser.login(browser.authorize(**params), username)
    if patient is not None and "Choose a patient" in page.text:
        page = browser.pick(page, patient)
    back = redirect_params(browser.consent(page))
    assert back["state"] == params["state"]
    return back, verifier


def error_of(resp: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """An RFC 6749 §5.2 JSON error answer."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body: dict[str, Any] = resp.json()
    assert body["error"] == error, body
    assert re.fullmatch(r"[\x20-\x21\x23-\x5B\x5D-\x7E]*", body.get("error_description", "")), body
    return body
