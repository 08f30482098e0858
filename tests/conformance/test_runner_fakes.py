"""The runner against deliberately non-conforming endpoints (it must flag them), and SMART Backend
Services authorization against a fake token endpoint that checks the RS384 client assertion."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conformance.runner.cli import main
from tests.conformance.fakes import FakeServer, b64url_decode, query

STATEMENT = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "kind": "instance",
    "fhirVersion": "4.0.1",
    "format": ["json"],
    "rest": [
        {
            "mode": "server",
            "interaction": [{"code": "transaction"}],
            "operation": [{"name": "claimed-op"}],
            "resource": [
                {
                    "type": "Patient",
                    "interaction": [{"code": c} for c in ("create", "read", "search-type")],
                    "searchParam": [{"name": "family", "type": "string"}, {"name": "gender", "type": "token"}],
                }
            ],
        }
    ],
}


def _sloppy() -> FakeServer:
    """Claims create/read/search/transaction/$claimed-op, but: create gives no Location, search ignores
    its parameters, transactions and the operation are 404, unknown parameters are refused."""
    store: dict[str, dict[str, Any]] = {}

    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        route = path.split("?")[0].strip("/")
        if route == "metadata":
            return 200, {}, STATEMENT
        if route == "Patient" and method == "POST":
            res = json.loads(body)
            res["id"] = uuid.uuid4().hex[:8]
            store[res["id"]] = res
            return 200, {}, res  # should be 201 with a Location
        if route == "Patient" and method == "GET":
            if "family" in query(path) and "_count" in query(path):
                return (
                    400,
                    {},
                    {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]},
                )
            entries = [{"resource": r, "search": {"mode": "match"}} for r in store.values()]
            return 200, {}, {"resourceType": "Bundle", "type": "searchset", "entry": entries}
        if route.startswith("Patient/") and method == "GET" and route.split("/")[1] in store:
            return 200, {}, store[route.split("/")[1]]
        return 404, {}, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}

    return FakeServer(handle)


@pytest.fixture()
def sloppy() -> Iterator[FakeServer]:
    server = _sloppy()
    yield server
    server.close()


def _statuses(junit: Path) -> dict[str, str]:
    import xml.etree.ElementTree as ET

    out = {}
    for case in ET.fromstring(junit.read_bytes()).iter("testcase"):
        status = "pass"
        for child, name in (("failure", "fail"), ("error", "error"), ("skipped", "skip")):
            if case.find(child) is not None:
                status = name
        out[f"{case.get('classname')}: {case.get('name')}"] = status
    return out


def test_runner_flags_a_non_conforming_server(sloppy: FakeServer, tmp_path: Path) -> None:
    junit = tmp_path / "r.xml"
    out = io.StringIO()
    assert main(["run", "--base", sloppy.base, "--junit", str(junit)], out) == 1
    got = _statuses(junit)
    assert got["capabilities: the CapabilityStatement is an R4 server statement"] == "pass"
    assert got["capabilities: claimed search parameters are accepted"] == "fail"  # family refused
    assert got["capabilities: claimed operations exist"] == "fail"  # $claimed-op is a 404
    assert got["rest: create returns 201, Location and ETag"] == "fail"
    assert got["search: _tag finds exactly the run's data"] == "fail"  # parameters ignored
    assert got["transactions: transaction rewrites urn:uuid references"] == "fail"
    assert got["smart: SMART configuration is published"] == "skip"
    assert "FAIL" in out.getvalue()


def _key_pair(tmp_path: Path) -> tuple[Path, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "client.pem"
    path.write_bytes(pem)
    return path, key.public_key()


def _smart_server(public: rsa.RSAPublicKey, seen: list[dict[str, Any]]) -> FakeServer:
    """Discovery, a token endpoint that verifies the client assertion (SMART backend services), and a
    FHIR endpoint that wants the issued token."""
    token = "tok-" + uuid.uuid4().hex
    state: dict[str, str] = {}

    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        route = path.split("?")[0].strip("/")
        base = state["base"]
        if route == ".well-known/smart-configuration":
            return (
                200,
                {"Content-Type": "application/json"},
                {
                    "token_endpoint": f"{base}/token",
                    "capabilities": ["client-confidential-asymmetric"],
                    "token_endpoint_auth_signing_alg_values_supported": ["RS384"],
                },
            )
        if route == "token" and method == "POST":
            form = {k: v[0] for k, v in query("?" + body.decode()).items()}
            head, payload, sig = form["client_assertion"].split(".")
            try:
                public.verify(b64url_decode(sig), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA384())
            except InvalidSignature:
                return 401, {"Content-Type": "application/json"}, {"error": "invalid_client"}
            claims = json.loads(b64url_decode(payload))
            seen.append({"form": form, "header": json.loads(b64url_decode(head)), "claims": claims})
            ok = (
                form["grant_type"] == "client_credentials"
                and claims["iss"] == claims["sub"] == "backend-1"
                and claims["aud"] == f"{base}/token"
                and claims["exp"] > time.time()
            )
            if not ok:
                return 400, {"Content-Type": "application/json"}, {"error": "invalid_grant"}
            return (
                200,
                {"Content-Type": "application/json"},
                {"access_token": token, "token_type": "bearer", "expires_in": 300, "scope": form["scope"]},
            )
        if headers.get("authorization") != f"Bearer {token}":
            return 401, {}, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}
        if route == "metadata":
            return 200, {}, STATEMENT
        return 404, {}, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}

    server = FakeServer(handle)
    state["base"] = server.base
    return server


def test_backend_services_token_is_obtained_and_used(tmp_path: Path) -> None:
    key_path, public = _key_pair(tmp_path)
    seen: list[dict[str, Any]] = []
    server = _smart_server(public, seen)
    try:
        junit = tmp_path / "r.xml"
        main(
            [
                "run",
                "--base",
                server.base,
                "--client-id",
                "backend-1",
                "--private-key",
                str(key_path),
                "--scope",
                "system/Patient.rs",
                "--suite",
                "capabilities",
                "--junit",
                str(junit),
            ],
            io.StringIO(),
        )
        assert seen and seen[0]["header"]["alg"] == "RS384"
        assert seen[0]["form"]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        assert seen[0]["form"]["scope"] == "system/Patient.rs"
        # the token worked: the statement was read (behind the token) and judged
        assert _statuses(junit)["capabilities: the CapabilityStatement is an R4 server statement"] == "pass"
        other_key, _ = _key_pair(tmp_path / "..")
        assert (
            main(
                ["run", "--base", server.base, "--client-id", "backend-1", "--private-key", str(other_key)],
                io.StringIO(),
            )
            == 2
        )  # a wrongly signed assertion is refused: an auth error, not a run
    finally:
        server.close()


def test_token_option_sends_bearer(tmp_path: Path) -> None:
    seen: list[str] = []

    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        seen.append(headers.get("authorization", ""))
        return 200, {}, STATEMENT

    server = FakeServer(handle)
    try:
        main(["run", "--base", server.base, "--token", "abc", "--suite", "capabilities"], io.StringIO())
        assert seen and all(h == "Bearer abc" for h in seen)
    finally:
        server.close()


def test_usage_errors(tmp_path: Path) -> None:
    assert main(["run", "--base", "http://127.0.0.1:9", "--suite", "nope"], io.StringIO()) == 2
    assert main(["run", "--base", "http://127.0.0.1:9", "--client-id", "x"], io.StringIO()) == 2
    assert main(["hl7-cases"], io.StringIO()) == 2
