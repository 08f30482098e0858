"""Randomised compartment-leak test (R4 compartmentdefinition-patient, SMART patient/ scopes).

Two patients, A and B, each with a varied record (observations with categories, conditions,
encounters, medication requests naming a shared Medication, reports, provenance, a group, history
made by updates and deletes); every resource of B carries a unique marker text. A patient/*.cruds
token for A then runs, in a random order with random parameters, every read and search form:
read, vread, instance/type/system history, type/compartment/system search with _include,
_revinclude (:iterate), chains, _has, _type, _summary/_elements, batch and transaction reads, and
an operation that walks the compartment through the interactions (like $everything). No response
may contain B's marker, any of B's ids, or B's resources; every write aimed at B is refused.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import httpx
import pytest

from fhir_server.interactions import search as search_interaction
from fhir_server.operations import OperationContext, OperationResult, operation
from tests.conftest import LiveServer
from tests.helpers import assert_outcome
from tests.smart_auth.conftest import FHIR, bearer, create, token

CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
SEED = random.randrange(1 << 30)


@operation("test-compartment-walk", instance=True, resource_types=("Patient",))
async def _walk(ctx: OperationContext) -> OperationResult:
    """Like $everything: the compartment's resources, gathered through the search interaction."""
    entries: list[Any] = []
    async with ctx.server.pool.connection() as conn:
        for res_type in ("Observation", "Condition", "Encounter", "MedicationRequest", "Provenance", "Group"):
            bundle = await search_interaction.compartment_search(
                ctx.server, conn, ctx.base, "Patient", ctx.res_id or "", res_type, [("_count", "100")])
            entries.extend(bundle.get("entry", []))
    return OperationResult(resource={"resourceType": "Bundle", "type": "searchset", "entry": entries})


def _record(auth: LiveServer, who: str, marker: str, shared: dict[str, str]) -> dict[str, list[str]]:
    """A patient's record; every resource carries ``marker``; returns type → ids (B's are the secrets)."""
    sys_tok = token(auth, "system/*.cruds")
    pat = create(auth, {"resourceType": "Patient", "name": [{"family": f"Fam{who}{marker}", "given": [marker]}],
                        "gender": "female", "birthDate": "1980-01-01"}, sys_tok)
    ref = {"reference": f"Patient/{pat['id']}", "display": marker}
    ids: dict[str, list[str]] = {"Patient": [pat["id"]]}

    def add(res: dict[str, Any]) -> dict[str, Any]:
        made = create(auth, res, sys_tok)
        ids.setdefault(res["resourceType"], []).append(made["id"])
        return made

    enc = add({"resourceType": "Encounter", "status": "finished", "subject": ref, "class": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": marker}})
    for i, cat in enumerate(["laboratory", "vital-signs", "laboratory", "social-history"]):
        add({"resourceType": "Observation", "status": "final", "subject": ref, "encounter": {
             "reference": f"Encounter/{enc['id']}"}, "performer": [{"reference": f"Practitioner/{shared['doc']}"}],
             "category": [{"coding": [{"system": CAT, "code": cat}]}],
             "code": {"coding": [{"system": "http://loinc.org", "code": f"8867-{i}"}], "text": marker},
             "valueQuantity": {"value": 60 + i, "unit": "/min"}})
    cond = add({"resourceType": "Condition", "subject": ref, "code": {"text": marker}})
    add({"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": ref,
         "medicationReference": {"reference": f"Medication/{shared['med']}"}, "note": [{"text": marker}]})
    report = add({"resourceType": "DiagnosticReport", "status": "final", "subject": ref, "code": {"text": marker},
                  "result": [{"reference": f"Observation/{ids['Observation'][0]}"}]})
    add({"resourceType": "Provenance", "target": [{"reference": f"DiagnosticReport/{report['id']}"}],
         "recorded": "2024-01-01T00:00:00Z", "agent": [{"who": {"reference": f"Practitioner/{shared['doc']}"}}],
         "patient": ref, "reason": [{"text": marker}]} if False else
        {"resourceType": "Provenance", "target": [{"reference": f"DiagnosticReport/{report['id']}"},
                                                  {"reference": f"Patient/{pat['id']}"}],
         "recorded": "2024-01-01T00:00:00Z", "agent": [{"who": {"reference": f"Practitioner/{shared['doc']}"}}],
         "reason": [{"text": marker}]})
    add({"resourceType": "Group", "type": "person", "actual": True, "name": marker,
         "member": [{"entity": ref}]})
    # history: an update and a delete
    obs = httpx.get(f"{auth.base}/Observation/{ids['Observation'][1]}", headers=bearer(sys_tok)).json()
    obs["status"] = "amended"
    httpx.put(f"{auth.base}/Observation/{obs['id']}", json=obs, headers=bearer(sys_tok, **FHIR)).raise_for_status()
    httpx.delete(f"{auth.base}/Condition/{cond['id']}", headers=bearer(sys_tok)).raise_for_status()
    return ids


@pytest.fixture(scope="module")
def world(auth: LiveServer) -> dict[str, Any]:
    sys_tok = token(auth, "system/*.cruds")
    shared = {"doc": create(auth, {"resourceType": "Practitioner", "name": [{"family": "Shared"}]}, sys_tok)["id"],
              "med": create(auth, {"resourceType": "Medication", "code": {"text": "shared med"}}, sys_tok)["id"]}
    secret = "SECRET" + uuid.uuid4().hex
    a = _record(auth, "A", "open" + uuid.uuid4().hex[:8], shared)
    b = _record(auth, "B", secret, shared)
    return {"a": a, "b": b, "secret": secret, "shared": shared,
            "token": token(auth, "patient/*.cruds", patient=a["Patient"][0])}


def _requests(world: dict[str, Any], rng: random.Random) -> list[tuple[str, str, dict[str, str]]]:
    a, b = world["a"], world["b"]
    pa, pb = a["Patient"][0], b["Patient"][0]
    out: list[tuple[str, str, dict[str, str]]] = []
    for ids in (a, b):
        for res_type, values in ids.items():
            for rid in values:
                out += [("GET", f"{res_type}/{rid}", {}), ("GET", f"{res_type}/{rid}/_history", {}),
                        ("GET", f"{res_type}/{rid}/_history/1", {}), ("GET", f"{res_type}/{rid}/_history/2", {})]
    types = ["Patient", "Observation", "Condition", "Encounter", "MedicationRequest", "DiagnosticReport",
             "Provenance", "Group", "Medication", "Practitioner"]
    for t in types:
        out += [("GET", t, {}), ("GET", f"{t}/_history", {}), ("GET", t, {"_summary": "count"}),
                ("GET", t, {"_count": str(rng.randint(1, 5))}), ("GET", t, {"_elements": "id,meta"})]
    out += [
        ("GET", "_history", {}), ("GET", "", {}), ("GET", "", {"_type": "Observation,Patient,Condition"}),
        ("GET", "Observation", {"patient": pb}), ("GET", "Observation", {"subject": f"Patient/{pb}"}),
        ("GET", "Observation", {"subject:Patient.family": f"FamB{world['secret']}"}),
        ("GET", "Observation", {"code:text": world["secret"]}),
        ("GET", "Patient", {"_has:Observation:patient:category": "laboratory"}),
        ("GET", "Patient", {"_id": f"{pa},{pb}"}),
        ("GET", "Observation", {"_include": "Observation:patient"}),
        ("GET", "Observation", {"_include": "Observation:encounter", "_revinclude": "Provenance:target"}),
        ("GET", "Patient", {"_revinclude": "Observation:subject"}),
        ("GET", "Patient", {"_revinclude": "Group:member"}),
        ("GET", "Practitioner", {"_revinclude": "Observation:performer"}),
        ("GET", "Medication", {"_revinclude": "MedicationRequest:medication"}),
        ("GET", "DiagnosticReport", {"_include": "DiagnosticReport:result",
                                     "_revinclude:iterate": "Provenance:target"}),
        ("GET", "Observation", {"_include": "*", "_revinclude": "DiagnosticReport:result"}),
        ("GET", "Encounter", {"_revinclude": "Observation:encounter", "_include:iterate": "Observation:patient"}),
        ("GET", f"Patient/{pb}/Observation", {}), ("GET", f"Patient/{pb}/Condition", {}),
        ("GET", f"Patient/{pa}/Observation", {"_include": "Observation:performer"}),
        ("GET", f"Patient/{pb}/$test-compartment-walk", {}), ("GET", f"Patient/{pa}/$test-compartment-walk", {}),
        ("GET", "Observation", {"category": f"{CAT}|laboratory", "_sort": "-_lastUpdated"}),
        ("GET", "Group", {"member": f"Patient/{pb}"}),
    ]
    rng.shuffle(out)
    return out


def _bundle_reads(world: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    b = world["b"]
    urls = [f"{t}/{i}" for t, ids in b.items() for i in ids] + ["Observation?_revinclude=Provenance:target",
                                                                   f"Patient/{b['Patient'][0]}/_history"]
    rng.shuffle(urls)
    bundles = []
    for kind in ("batch", "transaction"):
        bundles.append({"resourceType": "Bundle", "type": kind,
                        "entry": [{"request": {"method": "GET", "url": u}} for u in urls[:8]]})
    return bundles


def _content(resp: httpx.Response) -> str:
    """The response without its Bundle links (which echo the caller's own query back)."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text
    if isinstance(body, dict):
        body.pop("link", None)
    return json.dumps(body)


def test_no_leak_through_any_read_or_search(auth: LiveServer, world: dict[str, Any]) -> None:
    rng = random.Random(SEED)
    headers = bearer(world["token"])
    b_ids = {i for ids in world["b"].values() for i in ids}
    a_seen: set[str] = set()
    checked = 0
    for method, path, params in _requests(world, rng):
        resp = httpx.request(method, f"{auth.base}/{path}", params=params, headers=headers, timeout=60)
        assert resp.status_code < 500, (path, params, resp.text)
        text = _content(resp)
        assert world["secret"] not in text, (SEED, path, params, resp.status_code)
        if resp.status_code == 200:
            leaked = [i for i in b_ids if i in text]
            assert not leaked, (SEED, path, params, leaked)
            a_seen |= {i for ids in [*world["a"].values(), list(world["shared"].values())] for i in ids
                       if i in resp.text}
        checked += 1
    for bundle in _bundle_reads(world, rng):
        resp = httpx.post(auth.base, json=bundle, headers=bearer(world["token"], **FHIR), timeout=60)
        assert resp.status_code in (200, 403), resp.text
        assert world["secret"] not in resp.text, (SEED, bundle["type"])
    # A's own record was visible (the restriction is not simply "nothing")
    assert set(world["a"]["Observation"]) <= a_seen and world["a"]["Patient"][0] in a_seen
    assert world["shared"]["med"] in a_seen and checked > 100


def test_a_deleted_resource_of_the_other_patient_is_refused_not_gone(auth: LiveServer, world: dict[str, Any]) -> None:
    # B's Condition was deleted (the world's history); a 410 would tell A it existed: A gets the 403 of any B read
    gone = [i for i in world["b"]["Condition"]
            if httpx.get(f"{auth.base}/Condition/{i}", headers=bearer(token(auth, "system/*.rs"))).status_code == 410]
    assert gone
    for cid in gone:
        assert_outcome(httpx.get(f"{auth.base}/Condition/{cid}", headers=bearer(world["token"])), 403)
        tx = {"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "GET",
                                                                                      "url": f"Condition/{cid}"}}]}
        assert httpx.post(auth.base, json=tx, headers=bearer(world["token"], **FHIR)).status_code == 403


def test_no_write_reaches_the_other_patient(auth: LiveServer, world: dict[str, Any]) -> None:
    headers = bearer(world["token"], **FHIR)
    b, pb = world["b"], world["b"]["Patient"][0]
    sys_headers = bearer(token(auth, "system/*.cruds"))
    obs_id = b["Observation"][0]
    before = httpx.get(f"{auth.base}/Observation/{obs_id}", headers=sys_headers).json()
    changed = {**before, "status": "cancelled"}
    moved = {**before, "subject": {"reference": f"Patient/{world['a']['Patient'][0]}"}}
    attempts = [
        ("PUT", f"Observation/{obs_id}", changed), ("PUT", f"Observation/{obs_id}", moved),
        ("DELETE", f"Observation/{obs_id}", None), ("DELETE", f"Patient/{pb}", None),
        ("POST", "Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                 "subject": {"reference": f"Patient/{pb}"}}),
        ("PUT", f"Observation?code:text={world['secret']}&status=final", changed),
        ("POST", "Patient", {"resourceType": "Patient", "name": [{"family": "Intruder"}]}),
    ]
    for method, path, body in attempts:
        resp = httpx.request(method, f"{auth.base}/{path}", json=body, headers=headers)
        assert resp.status_code == 403, (method, path, resp.status_code, resp.text)
        assert world["secret"] not in resp.text
    # a conditional delete matches only among what the caller may see: here nothing, so nothing is deleted
    resp = httpx.delete(f"{auth.base}/Observation", params={"_id": obs_id}, headers=headers)
    assert resp.status_code == 204
    patch = [{"op": "replace", "path": "/status", "value": "cancelled"}]
    resp = httpx.patch(f"{auth.base}/Observation/{obs_id}", json=patch,
                       headers=bearer(world["token"], **{"Content-Type": "application/json-patch+json"}))
    assert resp.status_code == 403
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "PUT", "url": f"Observation/{obs_id}"}, "resource": changed}]}
    assert httpx.post(auth.base, json=transaction, headers=headers).status_code == 403
    after = httpx.get(f"{auth.base}/Observation/{obs_id}", headers=sys_headers).json()
    assert after["meta"]["versionId"] == before["meta"]["versionId"] and after["status"] == before["status"]
    assert httpx.get(f"{auth.base}/Patient/{pb}", headers=sys_headers).status_code == 200
    # and A can still write within its own compartment
    own = {"resourceType": "Observation", "status": "final", "code": {"text": "mine"},
           "subject": {"reference": f"Patient/{world['a']['Patient'][0]}"}}
    assert httpx.post(f"{auth.base}/Observation", json=own, headers=headers).status_code == 201
