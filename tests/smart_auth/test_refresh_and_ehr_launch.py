"""Refresh tokens (RFC 6749 §6, SMART App Launch 2.x "refresh"): rotation, reuse detection, narrowing;
and the EHR launch (app-launch.html#launch-app-ehr-launch): a launch value issued by the EHR (endpoint
or CLI) resolves to its context in the token response."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.conftest import LiveServer
from tests.smart_auth.conftest import (
    ADMIN,
    REDIRECT,
    add_user,
    bearer,
    code_flow,
    create,
    error_of,
    register,
    token_request,
)


@pytest.fixture(scope="module")
def setup(auth: LiveServer) -> dict[str, str]:
    pat = create(auth, {"resourceType": "Patient", "name": [{"family": "Refresh"}]})
    enc = create(auth, {"resourceType": "Encounter", "status": "finished",
                        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                        "subject": {"reference": f"Patient/{pat['id']}"}})
    return {"client": register(auth)["client_id"], "user": add_user(auth, "Practitioner/ehr-doc"),
            "patient": pat["id"], "encounter": enc["id"]}


def _tokens(auth: LiveServer, setup: dict[str, str], scope: str, **extra: str) -> dict[str, str]:
    back, verifier = code_flow(auth, setup["client"], setup["user"], scope, patient=setup["patient"], **extra)
    resp = token_request(auth, {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                                "client_id": setup["client"], "code_verifier": verifier})
    assert resp.status_code == 200, resp.text
    body: dict[str, str] = resp.json()
    return body


def _refresh(auth: LiveServer, client: str, refresh_token: str, scope: str | None = None) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client}
    if scope is not None:
        data["scope"] = scope
    return token_request(auth, data)


def test_rotation_and_reuse(auth: LiveServer, setup: dict[str, str]) -> None:
    first = _tokens(auth, setup, "launch/patient offline_access patient/Patient.rs patient/Observation.rs")
    second = _refresh(auth, setup["client"], first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"] and body["patient"] == setup["patient"]
    assert set(body["scope"].split()) == set(first["scope"].split())
    # the used refresh token is refused, and presenting it again revokes the whole grant
    error_of(_refresh(auth, setup["client"], first["refresh_token"]), 400, "invalid_grant")
    error_of(_refresh(auth, setup["client"], body["refresh_token"]), 400, "invalid_grant")
    assert httpx.get(f"{auth.base}/Patient/{setup['patient']}", headers=bearer(body["access_token"])).status_code == 401


def test_scope_may_narrow_but_not_widen(auth: LiveServer, setup: dict[str, str]) -> None:
    first = _tokens(auth, setup, "launch/patient offline_access patient/Patient.rs patient/Observation.rs")
    error_of(_refresh(auth, setup["client"], first["refresh_token"], "patient/*.cruds offline_access"), 400,
             "invalid_scope")
    narrowed = _refresh(auth, setup["client"], first["refresh_token"], "patient/Patient.r")
    assert narrowed.status_code == 200, narrowed.text
    body = narrowed.json()
    assert body["scope"] == "patient/Patient.r"
    tok = body["access_token"]
    assert httpx.get(f"{auth.base}/Patient/{setup['patient']}", headers=bearer(tok)).status_code == 200
    assert httpx.get(f"{auth.base}/Observation", headers=bearer(tok)).status_code == 403
    # the new refresh token keeps the original grant: a later refresh may ask for all of it again
    again = _refresh(auth, setup["client"], body["refresh_token"], first["scope"])
    assert again.status_code == 200 and set(again.json()["scope"].split()) == set(first["scope"].split())


def test_refresh_only_with_offline_or_online_access(auth: LiveServer, setup: dict[str, str]) -> None:
    assert "refresh_token" not in _tokens(auth, setup, "launch/patient patient/Patient.rs")
    online = _tokens(auth, setup, "launch/patient online_access patient/Patient.rs")
    assert "refresh_token" in online
    other = register(auth)["client_id"]
    error_of(_refresh(auth, other, online["refresh_token"]), 400, "invalid_grant")  # bound to its client
    error_of(_refresh(auth, setup["client"], "not-a-refresh-token"), 400, "invalid_grant")


def test_ehr_launch_via_endpoint(auth: LiveServer, setup: dict[str, str]) -> None:
    resp = httpx.post(f"{auth.base}/auth/launch", headers={"Authorization": f"Bearer {ADMIN}"},
                      json={"patient": setup["patient"], "encounter": setup["encounter"],
                            "fhirContext": [f"Encounter/{setup['encounter']}"], "client_id": setup["client"]})
    assert resp.status_code == 201, resp.text
    launch = resp.json()["launch"]
    body = _tokens(auth, setup, "launch launch/encounter openid fhirUser patient/*.rs", launch=launch)
    assert body["patient"] == setup["patient"] and body["encounter"] == setup["encounter"]
    assert body["fhirContext"] == [{"reference": f"Encounter/{setup['encounter']}"}]
    assert body["need_patient_banner"] is False
    assert "launch" in body["scope"].split() and "launch/encounter" in body["scope"].split()
    enc = httpx.get(f"{auth.base}/Encounter/{setup['encounter']}", headers=bearer(body["access_token"]))
    assert enc.status_code == 200


def test_ehr_launch_via_cli_and_its_errors(auth: LiveServer, setup: dict[str, str]) -> None:
    out = subprocess.run([sys.executable, "-m", "fhir_server.cli", "launch", "--patient", setup["patient"],
                          "--database-url", auth.db.url], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    body = _tokens(auth, setup, "launch patient/Patient.rs", launch=out.stdout.strip())
    assert body["patient"] == setup["patient"]
    error_of(httpx.post(f"{auth.base}/auth/launch", json={"patient": setup["patient"]}), 401, "invalid_token")
    error_of(httpx.post(f"{auth.base}/auth/launch", headers={"Authorization": f"Bearer {ADMIN}"},
                        json={"patient": "bad id!"}), 400, "invalid_request")
    mine = httpx.post(f"{auth.base}/auth/launch", headers={"Authorization": f"Bearer {ADMIN}"},
                      json={"patient": setup["patient"], "client_id": "another-app"}).json()["launch"]
    from tests.smart_auth.conftest import Browser, authorize_params, pkce, redirect_params

    params = authorize_params(auth, setup["client"], pkce()[1], "launch patient/Patient.rs", launch=mine)
    assert redirect_params(Browser(auth).authorize(**params))["error"] == "invalid_request"
