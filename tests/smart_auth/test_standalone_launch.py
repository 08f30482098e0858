"""Standalone launch (SMART App Launch 2.x app-launch.html) with PKCE through the login, picker and
consent pages, over HTTP against the running server; expected values from the SMART and OAuth specs."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.conftest import LiveServer
from tests.smart_auth.conftest import (
    REDIRECT,
    Browser,
    add_user,
    authorize_params,
    bearer,
    code_flow,
    create,
    error_of,
    forms,
    pkce,
    redirect_params,
    register,
    token_request,
)

SCOPE = "launch/patient openid fhirUser offline_access patient/Patient.rs patient/Observation.rs"


@pytest.fixture(scope="module")
def app(auth: LiveServer) -> dict[str, str]:
    client = register(auth)
    patient = create(auth, {"resourceType": "Patient", "name": [{"family": "Standalone", "given": ["Sam"]}]})
    return {"client_id": client["client_id"], "patient": patient["id"],
            "user": add_user(auth, "Practitioner/standalone-doc")}


def test_rfc7636_s256_example(auth: LiveServer, app: dict[str, str]) -> None:
    """The code_verifier/code_challenge pair of RFC 7636 Appendix B completes a flow."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    browser = Browser(auth)
    params = authorize_params(auth, app["client_id"], challenge, "patient/Patient.rs")
    page = browser.pick(browser.login(browser.authorize(**params), app["user"]), app["patient"])
    code = redirect_params(browser.consent(page))["code"]
    resp = token_request(auth, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                "client_id": app["client_id"], "code_verifier": verifier})
    assert resp.status_code == 200, resp.text


def test_standalone_launch_end_to_end(auth: LiveServer, app: dict[str, str]) -> None:
    back, verifier = code_flow(auth, app["client_id"], app["user"], SCOPE, patient=app["patient"], nonce="n-0S6_WzA2Mj")
    resp = token_request(auth, {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                                "client_id": app["client_id"], "code_verifier": verifier})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"  # RFC 6749 §5.1
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert set(body["scope"].split()) == set(SCOPE.split())
    assert body["patient"] == app["patient"]
    assert body["need_patient_banner"] is True and body["smart_style_url"].startswith("http")
    assert "refresh_token" in body  # offline_access
    assert body["fhirUser"] == f"{auth.base}/Practitioner/standalone-doc"
    # id_token: RS256, verified with the published JWKS (OpenID Connect Core §2, §3.1.3.7)
    jwks = httpx.get(f"{auth.base}/auth/jwks").json()
    kid = jwt.get_unverified_header(body["id_token"])["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    claims = jwt.decode(body["id_token"], key, algorithms=["RS256"], audience=app["client_id"], issuer=auth.base)
    assert claims["nonce"] == "n-0S6_WzA2Mj" and claims["sub"] == app["user"]
    assert claims["fhirUser"] == f"{auth.base}/Practitioner/standalone-doc"
    # the access token reads the chosen patient
    read = httpx.get(f"{auth.base}/Patient/{app['patient']}", headers=bearer(body["access_token"]))
    assert read.status_code == 200 and read.json()["name"][0]["family"] == "Standalone"


def test_code_is_single_use_and_reuse_revokes(auth: LiveServer, app: dict[str, str]) -> None:
    back, verifier = code_flow(auth, app["client_id"], app["user"], SCOPE, patient=app["patient"])
    data = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
            "client_id": app["client_id"], "code_verifier": verifier}
    first = token_request(auth, data)
    assert first.status_code == 200
    error_of(token_request(auth, data), 400, "invalid_grant")
    # RFC 6749 §4.1.2: tokens issued from a code that was used twice are revoked
    tok = first.json()["access_token"]
    assert httpx.get(f"{auth.base}/Patient/{app['patient']}", headers=bearer(tok)).status_code == 401
    error_of(token_request(auth, {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"],
                                  "client_id": app["client_id"]}), 400, "invalid_grant")


def test_wrong_verifier_and_wrong_redirect_and_wrong_client(auth: LiveServer, app: dict[str, str]) -> None:
    other = register(auth)
    for change, expected in (({"code_verifier": pkce()[0]}, "invalid_grant"),
                             ({"redirect_uri": "http://127.0.0.1:9/other"}, "invalid_grant"),
                             ({"client_id": other["client_id"]}, "invalid_grant"),
                             ({"code_verifier": ""}, "invalid_request")):
        back, verifier = code_flow(auth, app["client_id"], app["user"], "patient/Patient.rs", patient=app["patient"])
        data = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                "client_id": app["client_id"], "code_verifier": verifier, **change}
        error_of(token_request(auth, data), 400, expected)


def _authorize_error(auth: LiveServer, app: dict[str, str], **change: str) -> dict[str, str]:
    _, challenge = pkce()
    params = authorize_params(auth, app["client_id"], challenge, SCOPE)
    params.update(change)
    params = {k: v for k, v in params.items() if v != ""}
    resp = Browser(auth).authorize(**params)
    back = redirect_params(resp)
    assert back.get("state") == params.get("state")
    return back


def test_authorize_errors_are_redirected_with_state(auth: LiveServer, app: dict[str, str]) -> None:
    assert _authorize_error(auth, app, code_challenge_method="plain")["error"] == "invalid_request"
    assert _authorize_error(auth, app, code_challenge_method="", code_challenge="")["error"] == "invalid_request"
    assert _authorize_error(auth, app, aud="http://elsewhere.example/fhir")["error"] == "invalid_request"
    assert _authorize_error(auth, app, response_type="token")["error"] == "unsupported_response_type"
    assert _authorize_error(auth, app, scope="patient/Observation.xyz")["error"] == "invalid_scope"
    assert _authorize_error(auth, app, scope="system/*.rs")["error"] == "invalid_scope"  # not for this client
    assert _authorize_error(auth, app, launch="no-such-launch", scope="launch")["error"] == "invalid_request"
    back = Browser(auth).authorize(**{k: v for k, v in authorize_params(auth, app["client_id"], pkce()[1], SCOPE)
                                      .items() if k != "state"})
    assert redirect_params(back)["error"] == "invalid_request"  # state is required


def test_unregistered_redirect_or_unknown_client_is_never_redirected(auth: LiveServer, app: dict[str, str]) -> None:
    _, challenge = pkce()
    for change in ({"redirect_uri": "https://attacker.example/cb"}, {"client_id": "no-such-client"},
                   {"redirect_uri": REDIRECT + "/x"}):
        params = {**authorize_params(auth, app["client_id"], challenge, SCOPE), **change}
        resp = Browser(auth).authorize(**params)
        assert resp.status_code == 400 and "location" not in resp.headers
        assert "attacker" not in resp.text and "<h1>This request cannot be processed</h1>" in resp.text


def test_wrong_password_and_denied_consent(auth: LiveServer, app: dict[str, str]) -> None:
    browser = Browser(auth)
    _, challenge = pkce()
    params = authorize_params(auth, app["client_id"], challenge, "patient/Patient.rs")
    page = browser.authorize(**params)
    again = browser.login(page, app["user"], "wrong password")
    assert again.status_code == 401 and "wrong password" in again.text and "smart_session" not in again.cookies
    page = browser.pick(browser.login(again, app["user"]), app["patient"])
    back = redirect_params(browser.consent(page, allow=False))
    assert back["error"] == "access_denied" and back["state"] == params["state"] and "code" not in back


def test_patient_user_gets_own_record_without_picker(auth: LiveServer) -> None:
    client = register(auth)
    me = create(auth, {"resourceType": "Patient", "name": [{"family": "Self"}]})
    user = add_user(auth, f"Patient/{me['id']}")
    back, verifier = code_flow(auth, client["client_id"], user, "launch/patient patient/*.rs")
    body = token_request(auth, {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                                "client_id": client["client_id"], "code_verifier": verifier}).json()
    assert body["patient"] == me["id"]


def test_unchecked_scopes_are_not_granted(auth: LiveServer, app: dict[str, str]) -> None:
    verifier, challenge = pkce()
    browser = Browser(auth)
    params = authorize_params(auth, app["client_id"], challenge, "patient/Patient.rs patient/Observation.rs")
    page = browser.pick(browser.login(browser.authorize(**params), app["user"]), app["patient"])
    hidden = {i["name"]: i["value"] for i in forms(page.text)[-1]["inputs"] if i.get("type") == "hidden"}
    data = {**hidden, "scope_0": "patient/Patient.rs", "decision": "allow"}
    back = redirect_params(browser.http.post(f"{auth.base}/auth/consent", data=data))
    body = token_request(auth, {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                                "client_id": app["client_id"], "code_verifier": verifier}).json()
    assert body["scope"] == "patient/Patient.rs"
