"""Authorization for the runner: a Bearer token, or SMART Backend Services
(https://hl7.org/fhir/smart-app-launch/backend-services.html): ``client_credentials`` with a
``private_key_jwt`` client assertion (RFC 7523) signed RS384, the token endpoint discovered from
``[base]/.well-known/smart-configuration``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class AuthError(Exception):
    """The server's authorization could not be used (no discovery, token refused, bad key)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_rs384(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str | None = None) -> str:
    """A compact JWS (RFC 7515) with RS384 (RSASSA-PKCS1-v1_5 with SHA-384)."""
    header: dict[str, Any] = {"alg": "RS384", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA384())
    return f"{signing_input}.{b64url(signature)}"


def load_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AuthError(f"cannot read an RSA private key from {path}: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError(f"{path} is not an RSA private key (RS384 needs one)")
    return key


def discover(http: httpx.Client, base: str) -> dict[str, Any]:
    resp = http.get(f"{base.rstrip('/')}/.well-known/smart-configuration", headers={"Accept": "application/json"})
    if resp.status_code != 200:
        raise AuthError(f"no SMART configuration at the server ({resp.status_code})")
    data = resp.json()
    if not isinstance(data, dict) or not isinstance(data.get("token_endpoint"), str):
        raise AuthError("the SMART configuration has no token_endpoint")
    return data


def backend_token(
    http: httpx.Client,
    base: str,
    client_id: str,
    key: rsa.RSAPrivateKey,
    scope: str = "system/*.rs",
    kid: str | None = None,
) -> str:
    """An access token for a registered backend client (SMART Backend Services)."""
    endpoint = discover(http, base)["token_endpoint"]
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": endpoint, "exp": now + 300, "jti": str(uuid.uuid4())}
    form = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": sign_rs384(claims, key, kid),
    }
    resp = http.post(endpoint, data=form, headers={"Accept": "application/json"})
    if resp.status_code != 200:
        raise AuthError(f"the token endpoint refused the client ({resp.status_code}: {resp.text[:200]})")
    token = resp.json().get("access_token")
    if not isinstance(token, str):
        raise AuthError("the token response has no access_token")
    return token
