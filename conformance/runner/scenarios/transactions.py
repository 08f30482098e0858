"""Transactions and batches (http://hl7.org/fhir/R4/http.html#transaction): urn:uuid references are
rewritten, a failing entry rolls the whole transaction back, a batch's entries stand alone."""

from __future__ import annotations

import uuid

from conformance.runner.client import json_of
from conformance.runner.results import require, run_checks
from conformance.runner.scenarios import Json, Run


def _entry(resource: Json, full_url: str | None = None) -> Json:
    entry: Json = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def suite(run: Run) -> None:
    f = run.fhir

    def transaction() -> None:
        pid = f"urn:uuid:{uuid.uuid4()}"
        patient = run.tagged({"resourceType": "Patient", "name": [{"family": "Txn"}]})
        obs = run.tagged(
            {"resourceType": "Observation", "status": "final", "code": {"text": "txn"}, "subject": {"reference": pid}}
        )
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [_entry(patient, pid), _entry(obs)]}
        resp = f.post("", bundle)
        require(resp.status_code == 200, f"the transaction answered {resp.status_code}: {resp.text[:200]}")
        body = json_of(resp)
        require(body.get("type") == "transaction-response", "a transaction answers a transaction-response Bundle")
        locations = [str((e.get("response") or {}).get("location", "")) for e in body.get("entry") or ()]
        require(len(locations) == 2 and all(loc for loc in locations), "each entry's response must have a location")
        refs = [loc.split("/_history/")[0].split("/")[-2:] for loc in locations]
        run.created.extend("/".join(r) for r in refs)
        stored = json_of(f.get("/".join(refs[1])))
        want = "/".join(refs[0])
        require(
            stored.get("subject", {}).get("reference") == want,
            f"the urn:uuid reference must be rewritten to {want}, found {stored.get('subject')}",
        )

    def rollback() -> None:
        marker = {"system": "urn:fhir-conformance:rollback", "value": str(uuid.uuid4())}
        good = run.tagged({"resourceType": "Patient", "identifier": [marker]})
        bad = run.tagged({"resourceType": "Observation", "status": "not-a-status", "code": {"text": "x"}})
        resp = f.post("", {"resourceType": "Bundle", "type": "transaction", "entry": [_entry(good), _entry(bad)]})
        require(
            400 <= resp.status_code < 500,
            f"a transaction with an invalid entry answered {resp.status_code}, 4xx expected",
        )
        found = json_of(f.get("Patient", params={"identifier": f"{marker['system']}|{marker['value']}"}))
        require(not found.get("entry"), "nothing of a failed transaction may be stored")

    def batch() -> None:
        good = run.tagged({"resourceType": "Patient", "name": [{"family": "Batch"}]})
        bad = {"resourceType": "Observation", "status": "not-a-status", "code": {"text": "x"}}
        resp = f.post("", {"resourceType": "Bundle", "type": "batch", "entry": [_entry(good), _entry(bad)]})
        require(resp.status_code == 200, f"a batch answered {resp.status_code}, 200 expected")
        entries = json_of(resp).get("entry") or []
        statuses = [str((e.get("response") or {}).get("status", "")) for e in entries]
        require(
            len(statuses) == 2 and statuses[0].startswith("201") and statuses[1][:1] == "4",
            f"batch entries stand alone: expected 201 and 4xx, got {statuses}",
        )
        loc = str((entries[0].get("response") or {}).get("location", ""))
        if loc:
            run.created.append("/".join(loc.split("/_history/")[0].split("/")[-2:]))

    run_checks(
        run.report,
        "transactions",
        [
            ("transaction rewrites urn:uuid references", transaction),
            ("a failing transaction stores nothing", rollback),
            ("batch entries succeed or fail alone", batch),
        ],
    )
