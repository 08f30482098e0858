"""Logins, token issue and failed authorization are audited (R4 auditevent.html; DICOM 110114 "User
Authentication" with subtype 110122 "Login", IHE IUA ITI-71 "Get Access Token"; BALP: a refused
request is recorded with outcome 4 "Minor failure", R4's code for an HTTP 4xx answer)."""

from __future__ import annotations

import uuid

import httpx

from tests.audit.conftest import DCM, INTERACTION, Person, client_agent, events, subtypes, user_agent, whats
from tests.conftest import LiveServer
from tests.smart_auth.conftest import (
    REDIRECT,
    Browser,
    add_user,
    authorize_params,
    bearer,
    code_flow,
    create,
    pkce,
    register,
    token,
    token_request,
)

USER_AUTHENTICATION = {"system": DCM, "code": "110114", "display": "User Authentication"}
ITI_71 = {"system": "urn:ihe:event-type-code", "code": "ITI-71", "display": "Get Access Token"}
CLIENT = "urn:fhir-server:oauth-client-id"


def test_login_success_and_failure(audited: LiveServer) -> None:
    doc = f"Practitioner/{uuid.uuid4().hex[:12]}"
    username = add_user(audited, doc)
    client = register(audited)
    browser = Browser(audited)
    _, challenge = pkce()
    page = browser.authorize(**authorize_params(audited, client["client_id"], challenge, "user/Patient.rs"))
    refused = browser.login(page, username, "wrong password")
    assert refused.status_code == 401
    assert "Allow" in browser.login(refused, username).text  # the consent page: signed in

    found = events(audited, {"altid": username}, lambda f: len(f) >= 2)
    assert sorted(e["outcome"] for e in found) == ["0", "4"]
    for event in found:
        assert event["type"] == USER_AUTHENTICATION
        assert event["subtype"] == [{"system": DCM, "code": "110122", "display": "Login"}]
        assert event["action"] == "E"
        user = user_agent(event)
        assert user["altId"] == username and user["requestor"] is True
    signed_in = next(e for e in found if e["outcome"] == "0")
    assert user_agent(signed_in)["who"] == {"reference": doc}
    failed = next(e for e in found if e["outcome"] == "4")  # who tried: only the name typed is known
    assert user_agent(failed)["who"]["identifier"] == {"system": "urn:fhir-server:username", "value": username}
    assert "wrong password" in failed["outcomeDesc"]


def test_token_issue_and_refused_token_request(audited: LiveServer) -> None:
    doc = f"Practitioner/{uuid.uuid4().hex[:12]}"
    username = add_user(audited, doc)
    client_id = register(audited)["client_id"]
    back, verifier = code_flow(audited, client_id, username, "openid fhirUser user/Patient.rs")
    form = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
            "client_id": client_id, "code_verifier": verifier}
    assert token_request(audited, form).status_code == 200
    assert token_request(audited, form).status_code == 400  # a code is good once (RFC 6749 §4.1.2)

    found = events(audited, {"agent:identifier": f"{CLIENT}|{client_id}"}, lambda f: len(f) >= 2)
    assert [subtypes(e) for e in found] == [["ITI-71"], ["ITI-71"]]
    issued = next(e for e in found if e["outcome"] == "0")
    refused = next(e for e in found if e["outcome"] == "4")
    for event in (issued, refused):
        assert event["type"] == USER_AUTHENTICATION and event["subtype"] == [ITI_71] and event["action"] == "E"
        assert client_agent(event)["who"]["identifier"] == {"system": CLIENT, "value": client_id}
    assert user_agent(issued)["who"] == {"reference": doc}
    scope = issued["entity"][0]["detail"][0]
    assert scope["type"] == "scope" and set(scope["valueString"].split()) == {"openid", "fhirUser", "user/Patient.rs"}
    assert refused["outcomeDesc"].startswith("invalid_grant")


def test_failed_authorization(audited: LiveServer) -> None:
    pid = create(audited, {"resourceType": "Patient", "name": [{"family": "Guarded"}]})["id"]
    url = f"{audited.base}/Patient/{pid}"
    assert httpx.get(url).status_code == 401  # no token
    assert httpx.get(url, headers=bearer("not-a-token")).status_code == 401
    narrow = Person(audited, scope="user/Observation.rs")
    assert narrow.get(f"Patient/{pid}").status_code == 403  # a token whose scopes do not reach Patient

    found = events(audited, {"entity": f"Patient/{pid}", "outcome": "4"}, lambda f: len(f) >= 3)
    assert len(found) == 3
    for event in found:
        assert event["subtype"] == [{"system": INTERACTION, "code": "read", "display": "read"}]
        assert event["action"] == "R" and event["outcome"] == "4" and event["outcomeDesc"]
        assert f"Patient/{pid}" in whats(event)
        assert client_agent(event)["network"]["address"] == "127.0.0.1"
    anonymous = [e for e in found if not [a for a in e["agent"] if a["type"]["coding"][0]["code"] == "humanuser"]]
    assert len(anonymous) == 2
    denied = next(e for e in found if e not in anonymous)
    assert user_agent(denied)["who"] == {"reference": narrow.ref}
    assert "scopes" in denied["outcomeDesc"]


def test_reading_audit_events_needs_a_scope_for_them(audited: LiveServer) -> None:
    without = Person(audited, scope="user/Patient.rs")
    assert without.get("AuditEvent").status_code == 403
    reader = token(audited, "user/AuditEvent.rs")
    resp = httpx.get(f"{audited.base}/AuditEvent", params={"_count": "1"}, headers=bearer(reader))
    assert resp.status_code == 200 and resp.json()["entry"]


def test_audit_events_are_not_patient_facing(audited: LiveServer) -> None:
    """An AuditEvent may name several patients; patient/ scopes and patient users read none of them."""
    pid = create(audited, {"resourceType": "Patient", "name": [{"family": "Watched"}]})["id"]
    assert Person(audited).get(f"Patient/{pid}").status_code == 200
    found = events(audited, {"patient": pid, "action": "R"}, lambda f: len(f) >= 1)
    assert found
    for scope, user in (("patient/*.rs", None), ("user/*.rs", add_user(audited, f"Patient/{pid}"))):
        tok = token(audited, scope, patient=pid, user=user)
        resp = httpx.get(f"{audited.base}/AuditEvent", params={"patient": pid}, headers=bearer(tok))
        assert resp.status_code == 200 and not resp.json().get("entry"), resp.text
        assert httpx.get(f"{audited.base}/AuditEvent/{found[0]['id']}", headers=bearer(tok)).status_code == 403
