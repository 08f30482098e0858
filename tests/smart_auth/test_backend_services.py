"""SMART Backend Services (backend-services.html): client_credentials with private_key_jwt (RFC 7523).

Keys are generated here (RSA for RS384, P-384 for ES384); the client's JWK Set is registered inline
or served from a jwks_uri on a local HTTP server. Each rule of the spec is checked with a negative
case: replayed jti, exp more than five minutes ahead, wrong aud/iss/sub, alg none, HS256, a
signature from another key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.conftest import LiveServer, _free_port
from tests.smart_auth.conftest import bearer, create, error_of, register, token_request

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algo = RSAAlgorithm if alg.startswith("RS") else ECAlgorithm
    out: dict[str, Any] = json.loads(algo.to_jwk(key.public_key()))
    out.update({"kid": kid, "alg": alg, "use": "sig"})
    return out


class Backend:
    def __init__(self, server: LiveServer, alg: str, jwks_uri: str | None = None) -> None:
        self.server, self.alg, self.kid = server, alg, uuid.uuid4().hex[:8]
        self.key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS384" \
            else ec.generate_private_key(ec.SECP384R1())
        self.jwks = {"keys": [_jwk(self.key, self.kid, alg)]}
        meta: dict[str, Any] = {"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"],
                                "scope": "system/Patient.rs system/Observation.rs", "redirect_uris": []}
        meta.update({"jwks_uri": jwks_uri} if jwks_uri else {"jwks": self.jwks})
        self.client_id = register(server, **meta)["client_id"]
        self.token_url = f"{server.base}/auth/token"

    def assertion(self, key: Any = None, alg: str | None = None, headers: dict[str, Any] | None = None,
                  **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.client_id, "sub": self.client_id, "aud": self.token_url, "exp": now + 240,
                "jti": uuid.uuid4().hex, **claims}
        return jwt.encode(body, key if key is not None else self.key, algorithm=alg or self.alg,
                          headers={"kid": self.kid, "typ": "JWT", **(headers or {})})

    def request(self, assertion: str, scope: str = "system/Patient.rs") -> httpx.Response:
        return token_request(self.server, {"grant_type": "client_credentials", "scope": scope,
                                           "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[tuple[str, dict[str, Any]]]:
    served: dict[str, Any] = {"keys": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(served).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", _free_port()), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/jwks.json", served
    httpd.shutdown()


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_backend_token_and_use(auth: LiveServer, alg: str) -> None:
    backend = Backend(auth, alg)
    resp = backend.request(backend.assertion(), "system/Patient.rs system/Observation.rs system/Condition.rs")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and "refresh_token" not in body
    assert body["scope"].split() == ["system/Patient.rs", "system/Observation.rs"]  # what the client may have
    pat = create(auth, {"resourceType": "Patient", "name": [{"family": "Backend"}]})
    assert httpx.get(f"{auth.base}/Patient/{pat['id']}", headers=bearer(body["access_token"])).status_code == 200
    assert httpx.get(f"{auth.base}/Condition", headers=bearer(body["access_token"])).status_code == 403


def test_jwks_uri(auth: LiveServer, jwks_server: tuple[str, dict[str, Any]]) -> None:
    url, served = jwks_server
    backend = Backend(auth, "RS384", jwks_uri=url)
    served["keys"] = backend.jwks["keys"]
    assert backend.request(backend.assertion()).status_code == 200
    other = Backend(auth, "ES384")
    served["keys"] = backend.jwks["keys"] + [{**other.jwks["keys"][0], "kid": "rotated"}]
    rotated = backend.assertion(key=other.key, alg="ES384", headers={"kid": "rotated"})
    assert backend.request(rotated).status_code == 200  # a key added to the set is found (refetch)
    error_of(backend.request(backend.assertion(headers={"jku": "http://127.0.0.1:1/evil.json"})), 401,
             "invalid_client")


def test_assertion_rules(auth: LiveServer) -> None:
    backend = Backend(auth, "RS384")
    now = int(time.time())
    replayed = backend.assertion(jti="same-jti-" + uuid.uuid4().hex)
    assert backend.request(replayed).status_code == 200
    cases = {
        "replayed jti": replayed,
        "exp more than 5 minutes ahead": backend.assertion(exp=now + 600),
        "expired": backend.assertion(exp=now - 60),
        "wrong aud": backend.assertion(aud=f"{auth.base}/token"),
        "wrong iss": backend.assertion(iss="someone-else"),
        "wrong sub": backend.assertion(sub="someone-else"),
        "no jti": jwt.encode({"iss": backend.client_id, "sub": backend.client_id, "aud": backend.token_url,
                              "exp": now + 60}, backend.key, algorithm="RS384", headers={"kid": backend.kid}),
        "other key": backend.assertion(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "unknown kid": backend.assertion(headers={"kid": "nope"}),
        "HS256 with the public key as secret": _compact({"alg": "HS256", "kid": backend.kid}, {
            "iss": backend.client_id, "sub": backend.client_id, "aud": backend.token_url, "exp": now + 60,
            "jti": uuid.uuid4().hex}, json.dumps(backend.jwks["keys"][0]).encode()),
        "alg none": _compact({"alg": "none", "kid": backend.kid}, {
            "iss": backend.client_id, "sub": backend.client_id, "aud": backend.token_url, "exp": now + 60,
            "jti": uuid.uuid4().hex}, None),
        "not a JWT": "abc.def",
    }
    for why, assertion in cases.items():
        resp = backend.request(assertion)
        assert resp.status_code == 401, (why, resp.text)
        error_of(resp, 401, "invalid_client")
        assert "www-authenticate" in resp.headers


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: dict[str, Any], claims: dict[str, Any], hmac_key: bytes | None) -> str:
    """A JWS built by hand (RFC 7515 §7.1): unsigned (alg none) or HMAC-SHA256 with ``hmac_key``."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if hmac_key is None:
        return signing_input + "."
    return signing_input + "." + _b64(hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest())


def test_client_credentials_only_for_backend_clients(auth: LiveServer) -> None:
    public = register(auth)
    error_of(token_request(auth, {"grant_type": "client_credentials", "scope": "system/*.rs",
                                  "client_id": public["client_id"]}), 400, "unauthorized_client")
    backend = Backend(auth, "ES384")
    error_of(backend.request(backend.assertion(), "patient/*.rs user/*.rs"), 400, "invalid_scope")
    error_of(token_request(auth, {"grant_type": "client_credentials", "scope": "system/*.rs",
                                  "client_assertion_type": "urn:other", "client_assertion": backend.assertion()}),
             401, "invalid_client")
