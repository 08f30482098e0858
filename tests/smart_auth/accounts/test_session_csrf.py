"""The sign-in session and the forms (RFC 6265 §4.1.2 cookie attributes; OWASP CSRF Prevention; Fetch CORS):
cookie flags, CSRF refused on every form, sign-out ending the session and revoking its tokens, and CORS
answered for the API but not for the pages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer
from tests.smart_auth.accounts.helpers import hidden, login, post_form, start
from tests.smart_auth.conftest import (
    PASSWORD,
    REDIRECT,
    Browser,
    add_user,
    auth_server,
    authorize_params,
    bearer,
    create,
    forms,
    pkce,
    redirect_params,
    register,
    token_request,
)


@pytest.fixture(scope="module")
def secure(pg_admin_url: str) -> Iterator[LiveServer]:
    server = auth_server(pg_admin_url, cookie_secure=True)
    yield server
    server.stop()


def _cookie(resp: httpx.Response, name: str) -> str:
    found = [h for h in resp.headers.get_list("set-cookie") if h.startswith(name + "=")]
    assert len(found) == 1, resp.headers.get_list("set-cookie")
    return found[0]


def test_cookie_flags(secure: LiveServer) -> None:
    app = register(secure)
    user = add_user(secure, "Practitioner/cookies")
    http = httpx.Client()  # cookies handled by hand: a client keeps Secure cookies for https only
    params = authorize_params(secure, app["client_id"], pkce()[1], "launch/patient patient/*.rs")
    page = http.get(f"{secure.base}/auth/authorize", params=params)
    csrf = _cookie(page, "smart_csrf")
    assert re.search(r"; HttpOnly", csrf, re.I) and "; Secure" in csrf and re.search(r"SameSite=Lax", csrf, re.I)
    assert "Path=/auth" in csrf
    value = csrf.split(";")[0].split("=", 1)[1]
    signed_in = httpx.post(forms(page.text)[0]["action"], headers={"Cookie": f"smart_csrf={value}"},
                           data={**hidden(page, 0), "username": user, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    session = _cookie(signed_in, "smart_session")
    for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/auth"):
        assert flag.lower() in session.lower(), session
    assert int(re.search(r"Max-Age=(\d+)", session, re.I).group(1)) > 0  # type: ignore[union-attr]
    # a browser sends Secure cookies back to 127.0.0.1 even over plain HTTP: the flow goes on
    browser = Browser(secure)
    page = browser.login(browser.authorize(**params), user)
    assert page.status_code == 200 and ("Choose a patient" in page.text or "Allow" in page.text)


def test_plain_http_development_drops_secure(auth: LiveServer) -> None:
    app = register(auth)
    page = httpx.get(f"{auth.base}/auth/authorize", params=authorize_params(auth, app["client_id"], pkce()[1],
                                                                            "patient/*.rs"))
    assert "secure" not in _cookie(page, "smart_csrf").lower()  # FHIR_AUTH_COOKIE_SECURE=0 on this server


def test_csrf_is_refused_on_every_form(auth: LiveServer) -> None:
    app = register(auth)
    user = add_user(auth, "Practitioner/csrf")
    browser, page, _, _ = start(auth, app["client_id"])
    good = {**hidden(page, 0), "username": user, "password": PASSWORD}
    url = f"{auth.base}/auth/login"
    for data, cookies in (({k: v for k, v in good.items() if k != "csrf"}, browser.http.cookies),  # no field
                          ({**good, "csrf": "x" * 43}, browser.http.cookies),  # wrong value
                          (good, {})):  # no cookie: another site's form
        resp = httpx.post(url, data=data, cookies=cookies, headers={"Origin": "https://evil.example"})
        assert resp.status_code == 403 and "from another site" in resp.text
        assert "smart_session" not in resp.headers.get("set-cookie", "")
    for path in ("consent", "select", "logout", "mfa", "mfa/enrol", "mfa/setup", "continue", "forgot", "reset",
                 "verify"):
        resp = browser.http.post(f"{auth.base}/auth/{path}", data={"request": good["request"]})
        assert resp.status_code == 403, path
    # the consent form with a wrong token gives no code
    page = login(browser, page, user)
    if "Choose a patient" in page.text:
        pat = create(auth, {"resourceType": "Patient", "name": [{"family": "Csrf"}]})
        page = browser.pick(browser.http.get(f"{auth.base}/auth/select",
                                             params={"request": good["request"], "name": "Csrf"}), pat["id"])
    forged = browser.http.post(forms(page.text)[-1]["action"], data={**hidden(page), "csrf": "f" * 43,
                                                                      "decision": "allow"})
    assert forged.status_code == 403 and "location" not in forged.headers
    assert redirect_params(browser.consent(page))["code"]  # the real form still works


def test_logout_ends_the_session_and_revokes_its_tokens(auth: LiveServer) -> None:
    app = register(auth)
    pat = create(auth, {"resourceType": "Patient", "name": [{"family": "Logout"}]})
    user = add_user(auth, f"Patient/{pat['id']}")
    browser = Browser(auth)
    verifier, challenge = pkce()
    params = authorize_params(auth, app["client_id"], challenge, "launch/patient offline_access patient/*.rs")
    back = redirect_params(browser.consent(browser.login(browser.authorize(**params), user)))
    tokens = token_request(auth, {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                                  "client_id": app["client_id"], "code_verifier": verifier}).json()
    read = f"{auth.base}/Patient/{pat['id']}"
    assert httpx.get(read, headers=bearer(tokens["access_token"])).status_code == 200
    confirm = browser.http.get(f"{auth.base}/auth/logout")
    assert confirm.status_code == 200 and "Sign out?" in confirm.text
    out = post_form(browser, confirm, {})
    assert out.status_code == 200 and "You have signed out" in out.text
    assert 'smart_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    assert httpx.get(read, headers=bearer(tokens["access_token"])).status_code == 401
    refreshed = token_request(auth, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                     "client_id": app["client_id"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    again = browser.authorize(**authorize_params(auth, app["client_id"], pkce()[1], "patient/*.rs"))
    assert "Sign in" in again.text and "Allow" not in again.text  # the session is gone


def test_cors_for_the_api_not_for_the_pages(auth: LiveServer) -> None:
    origin = {"Origin": "http://127.0.0.1:5555"}
    pre = httpx.options(f"{auth.base}/Patient", headers={**origin, "Access-Control-Request-Method": "GET",
                                                         "Access-Control-Request-Headers": "authorization"})
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == "*"
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in pre.headers
    for path in ("/.well-known/smart-configuration", "/metadata"):
        assert httpx.get(auth.base + path, headers=origin).headers["access-control-allow-origin"] == "*"
    token_answer = httpx.post(f"{auth.base}/auth/token", data={"grant_type": "x"}, headers=origin)
    assert token_answer.headers["access-control-allow-origin"] == "*"
    unauthorized = httpx.get(f"{auth.base}/Patient", headers=origin)
    assert unauthorized.status_code == 401 and "www-authenticate" in \
        unauthorized.headers["access-control-expose-headers"].lower()
    page = httpx.get(f"{auth.base}/auth/account", headers=origin)
    assert page.status_code == 200 and "access-control-allow-origin" not in page.headers
