"""Dynamic client registration (RFC 7591), client authentication (RFC 6749 §2.3) and the error answers
of the OAuth endpoints (RFC 6749 §5.2): JSON, the right status, and never a 500 for client input."""

from __future__ import annotations

import random
import string

import httpx

from tests.conftest import LiveServer
from tests.smart_auth.conftest import ADMIN, REDIRECT, add_user, code_flow, create, error_of, register, token_request


def test_registration(auth: LiveServer) -> None:
    body = register(auth, token_endpoint_auth_method="client_secret_basic", scope="user/*.rs openid")
    assert body["client_id"] and body["client_secret"] and body["client_secret_expires_at"] == 0
    assert body["redirect_uris"] == [REDIRECT] and body["token_endpoint_auth_method"] == "client_secret_basic"
    assert isinstance(body["client_id_issued_at"], int)
    url = f"{auth.base}/auth/register"
    admin = {"Authorization": f"Bearer {ADMIN}"}
    resp = httpx.post(url, json={"redirect_uris": [REDIRECT]})
    error_of(resp, 401, "invalid_token")
    assert resp.headers["www-authenticate"].startswith("Bearer")
    error_of(httpx.post(url, json={"redirect_uris": [REDIRECT]}, headers={"Authorization": "Bearer wrong"}), 401,
             "invalid_token")
    for bad in (["http://example.com/cb"], ["https://example.com/cb#frag"], ["relative/cb"], []):
        error_of(httpx.post(url, json={"redirect_uris": bad, "token_endpoint_auth_method": "none"}, headers=admin),
                 400, "invalid_redirect_uri")
    for meta in ({"token_endpoint_auth_method": "private_key_jwt", "redirect_uris": [REDIRECT]},
                 {"token_endpoint_auth_method": "magic", "redirect_uris": [REDIRECT]},
                 {"grant_types": ["password"], "redirect_uris": [REDIRECT]},
                 {"scope": "patient/Observation.xyz", "redirect_uris": [REDIRECT]},
                 {"redirect_uris": "not-a-list"}):
        error_of(httpx.post(url, json=meta, headers=admin), 400, "invalid_client_metadata")
    error_of(httpx.post(url, content=b"{not json", headers=admin), 400, "invalid_client_metadata")


def test_confidential_client_authentication(auth: LiveServer) -> None:
    app = register(auth, token_endpoint_auth_method="client_secret_basic")
    pat = create(auth, {"resourceType": "Patient"})
    user = add_user(auth, "Practitioner/conf")
    back, verifier = code_flow(auth, app["client_id"], user, "launch/patient patient/Patient.rs", patient=pat["id"])
    data = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
            "code_verifier": verifier}
    resp = token_request(auth, data, auth=(app["client_id"], "wrong-secret"))
    error_of(resp, 401, "invalid_client")
    assert "www-authenticate" in resp.headers
    error_of(token_request(auth, {**data, "client_id": app["client_id"]}), 401, "invalid_client")  # no secret
    error_of(token_request(auth, {**data, "client_secret": app["client_secret"]},
                           auth=(app["client_id"], app["client_secret"])), 400, "invalid_request")  # two methods
    assert token_request(auth, data, auth=(app["client_id"], app["client_secret"])).status_code == 200


def test_token_endpoint_errors(auth: LiveServer) -> None:
    app = register(auth)
    url = f"{auth.base}/auth/token"
    error_of(httpx.post(url, data={"client_id": app["client_id"]}), 400, "invalid_request")
    error_of(httpx.post(url, data={"grant_type": "password", "client_id": app["client_id"]}), 400,
             "unsupported_grant_type")
    error_of(httpx.post(url, json={"grant_type": "authorization_code"}), 400, "invalid_request")
    error_of(httpx.post(url, content=b"grant_type=a&grant_type=b", headers={
        "Content-Type": "application/x-www-form-urlencoded"}), 400, "invalid_request")
    error_of(httpx.post(url, data={"grant_type": "authorization_code", "client_id": "nobody", "code": "x",
                                   "code_verifier": "y" * 43}), 401, "invalid_client")
    error_of(httpx.post(url, data={"grant_type": "authorization_code", "client_id": app["client_id"],
                                   "code": "forged", "code_verifier": "y" * 43}), 400, "invalid_grant")


def test_client_input_never_causes_a_500(auth: LiveServer) -> None:
    rng = random.Random(7)
    junk = ["", "%", "%ZZ", "\x00", "a" * 5000, "é", "=", "&&", "grant_type", "[]", "{}", "..", "Bearer"]
    endpoints = ["token", "introspect", "revoke", "register", "launch", "authorize", "login", "consent", "select"]
    for _ in range(150):
        name = rng.choice(endpoints)
        fields = {rng.choice(["grant_type", "token", "code", "client_id", "scope", "request", "username",
                              "client_assertion", "client_assertion_type", "redirect_uri", "launch", "aud",
                              "state", "patient", "decision"]): rng.choice(junk) + rng.choice(string.printable)
                  for _ in range(rng.randint(0, 5))}
        basic = ("Basic " + rng.choice(["%", "Zm9v", "é", "=", "AA==", "x" * 900])).encode()
        headers: dict[str, str | bytes] = rng.choice([
            {}, {"Authorization": basic}, {"Authorization": "Bearer x.y.z"}, {"Content-Type": "application/json"}])
        method = rng.choice(["GET", "POST"])
        resp = httpx.request(method, f"{auth.base}/auth/{name}", data=fields if method == "POST" else None,
                             params=fields if method == "GET" else None, headers=headers)
        assert resp.status_code < 500, (name, fields, resp.status_code, resp.text)
    for header in ("Bearer " + "a" * 3000, "Bearer a.b", "Bearer \u00e9", "bearer"):
        resp = httpx.get(f"{auth.base}/Patient", headers={"Authorization": header.encode()})
        assert resp.status_code == 401, resp.text


def test_wrong_methods_on_auth_endpoints_are_405_with_allow(auth: LiveServer) -> None:
    # RFC 9110 §15.5.6: 405 with Allow listing the methods the URL supports (not a FHIR "unknown type" 404)
    for method, path, allow in (("GET", "/auth/token", "POST"), ("PUT", "/auth/token", "POST"),
                                ("GET", "/auth/introspect", "POST"), ("GET", "/auth/revoke", "POST"),
                                ("GET", "/auth/register", "POST"), ("DELETE", "/auth/authorize", "GET, HEAD, POST"),
                                ("POST", "/auth/jwks", "GET, HEAD")):
        resp = httpx.request(method, f"{auth.base}{path}")
        assert resp.status_code == 405, (method, path, resp.text)
        assert resp.headers["allow"] == allow, (method, path)


def test_401_for_a_bad_token_keeps_pyjwt_internals_out(auth: LiveServer) -> None:
    for bad, said in (("abc.def.ghi", "The access token is not a well-formed JWT"),
                      ("not-a-jwt", "The access token is not a well-formed JWT")):
        resp = httpx.get(f"{auth.base}/Patient", headers={"Authorization": f"Bearer {bad}"})
        assert resp.status_code == 401
        issue = resp.json()["issue"][0]
        assert issue["diagnostics"] == said, issue
        assert resp.headers["www-authenticate"].count('"') == 6  # realm, error, description: no stray quotes
