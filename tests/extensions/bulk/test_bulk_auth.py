"""Bulk Data under SMART authorization (Bulk Data IG 2.0 authorization.html, export.html "Privacy and Security"):
a Backend Services client (RS384 private_key_jwt, ``system/*.rs``) exports; status and files need its
token and are refused to other clients; a patient-scoped token gets only its patient's compartment;
asking for a type the token does not cover is refused; ``$import`` needs unrestricted write scopes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from fhir_server.config import Settings
from smart_auth.cli import mint
from tests.conftest import Database, LiveServer
from tests.extensions.bulk.conftest import SERVER_MADE, Bulk, expected_resources, keys, load, patient_bundles
from tests.smart_auth.conftest import ADMIN, register, run_db, token_request

Json = dict[str, Any]
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
BUNDLES = patient_bundles()[:3]


def _token(server: LiveServer, scope: str, patient: str | None = None, client: str = "fhir-server-cli") -> str:
    return str(run_db(server, lambda conn: mint(conn, Settings(), scope, server.base, 600, patient, None, client)))


def _bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}", "Accept": "application/fhir+json"}


def _patient(bundle: Json) -> str:
    return str(next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"))


@pytest.fixture(scope="module")
def secured(pg_admin_url: str) -> Iterator[LiveServer]:
    server = LiveServer(Database(pg_admin_url), auth_enabled=True, auth_admin_token=ADMIN).start()
    with server.client() as c:
        load(c, BUNDLES, {"Authorization": f"Bearer {_token(server, 'system/*.cruds')}"})
    yield server
    server.stop()


def _backend_token(server: LiveServer, scope: str) -> str:
    """SMART Backend Services: a registered JWK Set, an RS384-signed assertion, client_credentials."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex[:8]
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "RS384", "use": "sig"}
    client_id = register(server, token_endpoint_auth_method="private_key_jwt", grant_types=["client_credentials"],
                         scope=scope, redirect_uris=[], jwks={"keys": [jwk]})["client_id"]
    token_url = f"{server.base}/auth/token"
    assertion = jwt.encode({"iss": client_id, "sub": client_id, "aud": token_url, "exp": int(time.time()) + 240,
                            "jti": uuid.uuid4().hex}, key, algorithm="RS384", headers={"kid": kid, "typ": "JWT"})
    resp = token_request(server, {"grant_type": "client_credentials", "scope": scope,
                                  "client_assertion_type": ASSERTION, "client_assertion": assertion})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def test_backend_services_export_and_who_may_fetch_it(secured: LiveServer) -> None:
    tok = _backend_token(secured, "system/*.rs")
    with secured.client() as c:
        bulk = Bulk(c, _bearer(tok))
        assert c.get("/$export", headers={"Prefer": "respond-async"}).status_code == 401
        url = bulk.kick_off("/$export", params={"_type": "Patient,Immunization"})
        assert c.get(url).status_code == 401
        manifest = bulk.manifest(url)
        assert manifest["requiresAccessToken"] is True
        file_url = manifest["output"][0]["url"]
        assert c.get(file_url).status_code == 401
        found = bulk.outputs(manifest)
        wanted = {k for k in expected_resources(BUNDLES) if k[0] in ("Patient", "Immunization")}
        assert sorted(keys(found)) == sorted(wanted)

        other = _bearer(_token(secured, "system/*.rs", client="another-client"))
        for resp in (c.get(url, headers=other), c.get(file_url, headers=other), c.delete(url, headers=other)):
            assert resp.status_code == 403, resp.text
            assert resp.json()["resourceType"] == "OperationOutcome"
        assert c.delete(url, headers=_bearer(tok)).status_code == 202


def test_patient_scoped_token_gets_its_patients_compartment_only(secured: LiveServer) -> None:
    mine, theirs = BUNDLES[0], BUNDLES[1]
    tok = _token(secured, "patient/*.rs", patient=_patient(mine))
    own = {k for k in expected_resources([mine]) if k[0] not in ("Organization", "Practitioner")}
    with secured.client() as c:
        bulk = Bulk(c, _bearer(tok))
        manifest, found = bulk.export("/Patient/$export")
        assert sorted(k for k in keys(found) if k[0] not in SERVER_MADE) == sorted(own)

        _, everything = bulk.export("/$export")
        patients = [k for k in keys(everything) if k[0] == "Patient"]
        assert patients == [("Patient", _patient(mine))]
        others = {k for k in expected_resources([theirs]) if k[0] not in ("Organization", "Practitioner")}
        assert not set(keys(everything)) & others  # (organizations and practitioners hold no patient's data)

        other_patient = _bearer(_token(secured, "patient/*.rs", patient=_patient(theirs)))
        resp = c.get(manifest["output"][0]["url"], headers=other_patient)  # same client, another patient
        assert resp.status_code == 403, resp.text

        only_patients = Bulk(c, _bearer(_token(secured, "patient/Patient.rs", patient=_patient(mine))))
        resp = c.get("/Patient/$export", params={"_type": "Observation"},
                     headers={**only_patients.headers, "Prefer": "respond-async"})
        assert resp.status_code == 403, resp.text


def test_type_scoped_system_token_exports_its_types(secured: LiveServer) -> None:
    with secured.client() as c:
        bulk = Bulk(c, _bearer(_token(secured, "system/Patient.rs")))
        manifest, found = bulk.export("/$export")
        assert {e["type"] for e in manifest["output"]} == {"Patient"}
        assert sorted(keys(found)) == sorted(k for k in expected_resources(BUNDLES) if k[0] == "Patient")
        resp = c.get("/$export", params={"_type": "Patient,Observation"},
                     headers={**bulk.headers, "Prefer": "respond-async"})
        assert resp.status_code == 403, resp.text


@pytest.mark.parametrize("scope", ["system/*.rs", "patient/*.cruds", "system/Patient.cruds?gender=female"])
def test_import_needs_unrestricted_write_scopes(secured: LiveServer, scope: str) -> None:
    patient = _patient(BUNDLES[0])
    tok = _token(secured, scope, patient=patient)
    line = json.dumps({"resourceType": "Patient", "id": "imported-" + uuid.uuid4().hex[:8]})
    resp = httpx.post(f"{secured.base}/$import", content=line, headers={
        **_bearer(tok), "Content-Type": "application/fhir+ndjson", "Prefer": "respond-async"})
    assert resp.status_code == 403, resp.text
    assert resp.json()["resourceType"] == "OperationOutcome"
