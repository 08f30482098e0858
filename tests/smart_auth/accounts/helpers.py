"""Helpers of the account tests: an RFC 6238 TOTP written from the RFC (independent of the server's
pyotp), the emails the server sent, and sign-in steps driven through the HTML forms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.smart_auth.conftest import PASSWORD, Browser, authorize_params, forms, pkce

STEP = 30


def rfc6238(secret_b32: str, at: float, digits: int = 6) -> str:
    """TOTP = HOTP(K, T) with T = floor(at / 30) (RFC 6238 §4.2); HOTP = Truncate(HMAC-SHA-1(K, T)) (RFC 4226 §5.3)."""
    key = base64.b32decode(secret_b32.replace(" ", "").upper() + "=" * (-len(secret_b32.replace(" ", "")) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // STEP), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10 ** digits).zfill(digits)


def mails(server: LiveServer, to: str) -> list[Any]:
    """The messages the server's (log) mailer sent to ``to``, oldest first."""
    return [m for m in server.app.state.auth.mailer.sent if m.to == to]


def link_in(mail: Any, path: str) -> str:
    m = re.search(rf"http://\S+/auth/{path}\?\S+", mail.text)
    assert m, mail.text
    return m.group(0)


def hidden(page: httpx.Response, index: int = -1) -> dict[str, str]:
    return {i["name"]: i.get("value", "") for i in forms(page.text)[index]["inputs"] if i.get("type") == "hidden"}


def post_form(browser: Browser, page: httpx.Response, values: dict[str, str], index: int = -1) -> httpx.Response:
    form = forms(page.text)[index]
    return browser.http.post(form["action"], data={**hidden(page, index), **values})


def start(server: LiveServer, client_id: str, scope: str = "launch/patient openid fhirUser patient/*.rs",
          browser: Browser | None = None) -> tuple[Browser, httpx.Response, str, dict[str, str]]:
    """A browser at the login page of a new authorize request: (browser, page, code_verifier, params)."""
    browser = browser or Browser(server)
    verifier, challenge = pkce()
    params = authorize_params(server, client_id, challenge, scope)
    page = browser.authorize(**params)
    assert page.status_code == 200 and "Sign in" in page.text, page.text
    return browser, page, verifier, params


def login(browser: Browser, page: httpx.Response, username: str, password: str = PASSWORD) -> httpx.Response:
    return post_form(browser, page, {"username": username, "password": password}, index=0)


def secret_of(page: httpx.Response) -> str:
    m = re.search(r'<code id="secret">([A-Z2-7 ]+)</code>', page.text)
    assert m, page.text
    return m.group(1).replace(" ", "")


def now_code(secret: str, steps_ahead: int = 0) -> str:
    return rfc6238(secret, time.time() + steps_ahead * STEP)
