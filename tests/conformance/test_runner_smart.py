"""``fhir-conformance run`` against this server with SMART authorization on: a backend client is
registered (RFC 7591) with its RSA public key; the runner gets its token by SMART Backend Services
(private_key_jwt, RS384, token endpoint from .well-known/smart-configuration) and runs every suite."""

from __future__ import annotations

import io
import json
import secrets
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from conformance.runner.cli import main
from tests.conftest import Database, LiveServer

ADMIN = "admin-" + secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def secured(pg_admin_url: str) -> Iterator[LiveServer]:
    server = LiveServer(Database(pg_admin_url), auth_enabled=True, auth_admin_token=ADMIN).start()
    yield server
    server.stop()


def _backend(server: LiveServer, tmp_path: Path) -> tuple[str, Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex[:8]
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "RS384", "use": "sig"}
    meta = {
        "client_name": "fhir-conformance",
        "redirect_uris": [],
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "scope": "system/*.cruds",
        "jwks": {"keys": [jwk]},
    }
    resp = httpx.post(f"{server.base}/auth/register", json=meta, headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 201, resp.text
    path = tmp_path / "backend.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(resp.json()["client_id"]), path, kid


def test_runner_with_backend_services_against_our_secured_server(secured: LiveServer, tmp_path: Path) -> None:
    client_id, key, kid = _backend(secured, tmp_path)
    junit, out = tmp_path / "smart.xml", io.StringIO()
    status = main(
        [
            "run",
            "--base",
            secured.base,
            "--client-id",
            client_id,
            "--private-key",
            str(key),
            "--kid",
            kid,
            "--scope",
            "system/*.cruds",
            "--junit",
            str(junit),
        ],
        out,
    )
    assert status == 0, out.getvalue()
    statuses = {
        c.get("name"): (
            "fail" if c.find("failure") is not None else "skip" if c.find("skipped") is not None else "pass"
        )
        for c in ET.fromstring(junit.read_bytes()).iter("testcase")
    }
    assert statuses["SMART configuration is published"] == "pass"
    assert statuses["discovery agrees with the statement"] == "pass"
    assert statuses["requests without a token are refused"] == "pass"


def test_runner_without_a_token_is_refused_everywhere(secured: LiveServer) -> None:
    out = io.StringIO()
    assert main(["run", "--base", secured.base, "--suite", "rest"], out) == 1
    assert "401" in out.getvalue()
