"""Sign in with Google (and any OpenID Connect provider) against a local fake provider answering in Google's
documented shapes: code flow with state, nonce and PKCE S256, scopes ``openid email profile``, the exact
redirect URI; the ID token checked as OpenID Connect Core §3.1.3.7 says (signature by the provider's JWKS,
``iss``, ``aud``, ``exp``, ``nonce``, algorithm); accounts linked by verified email or created for patients."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from smart_auth import users
from smart_auth.config import OidcProvider
from tests.smart_auth.accounts.helpers import hidden, start
from tests.smart_auth.conftest import (
    PASSWORD,
    REDIRECT,
    Browser,
    add_user,
    auth_server,
    bearer,
    forms,
    redirect_params,
    register,
    run_db,
    token_request,
)
from tests.smart_auth.fakes.oidc_provider import MARA as MARA_CLAIMS
from tests.smart_auth.fakes.oidc_provider import FakeGoogle

MARA: dict[str, Any] = MARA_CLAIMS

CLIENT_ID = "123456789012-fakeclientid0000000000000000.apps.googleusercontent.com"
SECRET = "GOCSPX-fake-secret"


@pytest.fixture(scope="module")
def world(pg_admin_url: str) -> Iterator[dict[str, Any]]:
    google = FakeGoogle(CLIENT_ID, SECRET, []).start()
    other = FakeGoogle("clinic-id-client", "clinic-secret", [], issuer="").start()
    other.issuer = other.base  # a generic provider whose issuer is its own URL
    providers = (OidcProvider("google", "Google", CLIENT_ID, SECRET, discovery_url=google.discovery_url,
                              create_patients=True),
                 OidcProvider("clinicid", "Clinic ID", "clinic-id-client", "clinic-secret", issuer=other.base))
    server = auth_server(pg_admin_url, oidc=providers)
    for fake in (google, other):
        fake.redirect_uris = [f"{server.base}/auth/oidc/callback"]
    yield {"server": server, "google": google, "other": other, "app": register(server)}
    server.stop()
    google.stop()
    other.stop()


@pytest.fixture(autouse=True)
def _fresh(world: dict[str, Any]) -> None:
    world["google"].reset()
    world["other"].reset()


def sign_in(world: dict[str, Any], provider: str = "google", choice: str = "approve"
            ) -> tuple[Browser, httpx.Response, str]:
    """Login page → "Sign in with …" → the provider's account chooser → back to our callback."""
    server = world["server"]
    browser, page, verifier, _ = start(server, world["app"]["client_id"])
    index = next(i for i, f in enumerate(forms(page.text))
                 if any(x.get("value") == provider for x in f["inputs"]))
    assert f"Sign in with {'Google' if provider == 'google' else 'Clinic ID'}" in page.text
    to_provider = browser.http.get(forms(page.text)[index]["action"], params=hidden(page, index))
    assert to_provider.status_code == 303
    chooser = browser.http.get(to_provider.headers["location"])
    assert chooser.status_code == 200 and "Choose an account" in chooser.text, chooser.text
    back = browser.http.get(forms(chooser.text)[0]["action"], params={**hidden(chooser), "choice": choice})
    assert back.status_code == 302
    return browser, browser.http.get(back.headers["location"]), verifier


def _link_account(world: dict[str, Any], email: str = str(MARA_CLAIMS["email"]), verified: bool = True) -> str:
    name = add_user(world["server"], "Practitioner/mara")
    run_db(world["server"], lambda conn: users.add_user(conn, name, PASSWORD, "Practitioner/mara", "Mara",
                                                        email=email, email_verified=verified))
    return name


def test_google_sign_in_links_by_verified_email(world: dict[str, Any]) -> None:
    google, server = world["google"], world["server"]
    name = _link_account(world)
    browser, page, _ = sign_in(world)
    assert page.status_code == 200 and "Choose a patient" in page.text, page.text
    request = dict(google.requests)["authorize"]
    assert request["scope"] == "openid email profile" and request["response_type"] == "code"
    assert request["redirect_uri"] == f"{server.base}/auth/oidc/callback"
    assert request["code_challenge_method"] == "S256" and len(request["nonce"]) >= 32 and len(request["state"]) >= 32
    exchange = dict(google.requests)["token"]
    assert exchange["basic"] == "Basic " and exchange["redirect_uri"] == request["redirect_uri"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(exchange["code_verifier"].encode()).digest()).rstrip(b"=")
    assert digest.decode() == request["code_challenge"]  # RFC 7636 §4.6
    assert "Mara" in browser.http.get(f"{server.base}/auth/account").text
    # linked by the provider's subject from now on, even when the email there changes
    google.identity = {**google.identity, "email": "mara.new@example.org"}
    _, again, _ = sign_in(world)
    assert again.status_code == 200 and "Choose a patient" in again.text
    assert run_db(server, lambda conn: _linked(conn, MARA["sub"])) == name


async def _linked(conn: Any, subject: str) -> str | None:
    cur = await conn.execute("SELECT username FROM auth_identity WHERE provider = 'google' AND subject = %s",
                             (subject,))
    row = await cur.fetchone()
    return str(row[0]) if row else None


def test_new_patient_account_from_google(world: dict[str, Any]) -> None:
    google, server = world["google"], world["server"]
    google.identity = {**MARA, "sub": "2" * 21, "email": "new.patient@gmail.example", "name": "Nia Newpatient",
                       "email_verified": "true"}  # the string form some of Google's samples show
    browser, page, verifier = sign_in(world)
    assert "Allow" in page.text  # a patient account with its own new record: no picker
    back = redirect_params(browser.consent(page))
    app = world["app"]
    tokens = token_request(server, {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                                    "client_id": app["client_id"], "code_verifier": verifier}).json()
    record = httpx.get(f"{server.base}/Patient/{tokens['patient']}", headers=bearer(tokens["access_token"])).json()
    assert record["name"][0]["family"] == "Newpatient" and record["name"][0]["given"] == ["Nia"]
    created = run_db(server, lambda conn: users.by_email(conn, "new.patient@gmail.example"))
    assert created.role == "patient" and created.fhir_user == f"Patient/{tokens['patient']}" and created.email_verified


@pytest.mark.parametrize("tamper", [
    {"nonce": "n-not-the-one-sent"},
    {"aud": "another-client.apps.googleusercontent.com"},
    {"aud": [CLIENT_ID, "another-client"], "azp": "another-client"},
    {"iss": "https://accounts.evil.example"},
    {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
    "unknown key",
    "alg none",
])
def test_id_token_refused(world: dict[str, Any], tamper: Any) -> None:
    _link_account(world, email=f"t{abs(hash(str(tamper)))}@example.org")
    google = world["google"]
    if tamper == "unknown key":
        google.sign_with_unknown_key = True
    elif tamper == "alg none":
        google.alg_none = True
    else:
        google.tamper = tamper
    browser, page, _ = sign_in(world)
    assert page.status_code == 401 and "could not confirm your sign-in with Google" in page.text
    assert "smart_session" not in browser.http.cookies


def test_refusals_in_plain_words(world: dict[str, Any]) -> None:
    google = world["google"]
    google.identity = {**MARA, "sub": "3" * 21, "email": "unverified@example.org", "email_verified": False}
    assert sign_in(world)[1].status_code == 403
    _link_account(world, email="not.confirmed.here@example.org", verified=False)
    google.identity = {**MARA, "sub": "4" * 21, "email": "not.confirmed.here@example.org"}
    page = sign_in(world)[1]
    assert page.status_code == 403 and "not confirmed its email address" in page.text
    world["other"].identity = {**MARA, "sub": "5" * 21, "email": "stranger@example.org"}
    page = sign_in(world, "clinicid")[1]  # this provider may not create accounts
    assert page.status_code == 403 and "no account for stranger@example.org" in page.text
    page = sign_in(world, choice="cancel")[1]
    assert page.status_code == 401 and "was cancelled" in page.text and "Sign in" in page.text


def test_any_provider_by_settings_and_rotated_keys(world: dict[str, Any]) -> None:
    other, server = world["other"], world["server"]
    _link_account(world, email="clinic.user@example.org")
    other.identity = {**MARA, "sub": "6" * 21, "email": "clinic.user@example.org"}
    other.signing_kid = "fake-kid-b7"  # the provider signs with its second key
    assert "Choose a patient" in sign_in(world, "clinicid")[1].text
    other.keys["fake-kid-c9"] = other.keys.pop("fake-kid-a1")  # a key added after we read the JWKS
    other.signing_kid = "fake-kid-c9"
    assert "Choose a patient" in sign_in(world, "clinicid")[1].text  # the JWKS is read again for the unknown kid
    assert server.base


def test_state_is_single_use_and_bound_to_the_browser(world: dict[str, Any]) -> None:
    server = world["server"]
    world["google"].identity = {**MARA, "sub": "7" * 21, "email": "state.test@example.org"}
    _link_account(world, email="state.test@example.org")
    browser, page, _ = sign_in(world)
    assert page.status_code == 200
    callback = str(page.request.url)
    assert "/auth/oidc/callback?" in callback
    assert browser.http.get(callback).status_code == 400  # the same state again
    fresh, login_page, _, _ = start(server, world["app"]["client_id"])
    index = next(i for i, f in enumerate(forms(login_page.text)) if f["action"].endswith("/auth/oidc/start"))
    to_provider = fresh.http.get(forms(login_page.text)[index]["action"], params=hidden(login_page, index))
    chooser = fresh.http.get(to_provider.headers["location"])
    back = fresh.http.get(forms(chooser.text)[0]["action"], params={**hidden(chooser), "choice": "approve"})
    stolen = httpx.get(back.headers["location"])  # the callback URL opened in another browser
    assert stolen.status_code == 400 and "another browser" in stolen.text
    assert httpx.get(f"{server.base}/auth/oidc/callback", params={"state": "x", "code": "y"}).status_code == 400
    assert httpx.get(f"{server.base}/auth/oidc/start", params={"provider": "nope"}).status_code == 404
