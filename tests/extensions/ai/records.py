"""Test records: a hand-made patient full of identifiers, Synthea bundles loaded over HTTP, and output readers."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import Any

import httpx
import orjson

from fhir_server.demo import synthea_files
from tests.helpers import FHIR_JSON

Json = dict[str, Any]
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
HR = {"code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}], "text": "Heart rate"}}
VITAL = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]


def _cc(system: str, code: str, text: str) -> Json:
    return {"coding": [{"system": system, "code": code, "display": text}], "text": text}


def _status(kind: str, code: str) -> Json:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{kind}", "code": code}]}


def identified_patient() -> Json:
    tag = uuid.uuid4().hex[:6]
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:test:mrn", "value": f"MRN-{tag}-7731"}],
        "name": [{"family": f"Quiggleton{tag}", "given": ["Marigold", "Ottilie"]}],
        "telecom": [{"system": "phone", "value": "+1-555-0142-889"},
                    {"system": "email", "value": f"mq{tag}@example.org"}],
        "gender": "female",
        "birthDate": "1961-04-17",
        "address": [{"line": ["742 Evergreen Terrace"], "city": "Springfieldton", "postalCode": "49007"}],
    }


def identifiers(patient: Json, patient_id: str) -> list[str]:
    """The direct identifiers of ``identified_patient()`` (as a reviewer would list them)."""
    return [patient_id, patient["identifier"][0]["value"], patient["name"][0]["family"], "Marigold", "Ottilie",
            "555-0142", patient["telecom"][1]["value"], "1961-04-17", "Evergreen", "Springfieldton", "49007"]


def clinical_entries(pref: str) -> list[Json]:
    """Two problems (one resolved), vitals at two dates, a lab, a medication, an allergy, an encounter."""
    enc = {"resourceType": "Encounter", "status": "finished", "class": {"system":
           "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
           "type": [_cc(SNOMED, "185349003", "Encounter for check up")], "subject": {"reference": pref},
           "period": {"start": "2024-03-05T09:00:00Z", "end": "2024-03-05T09:30:00Z"}}
    return [
        {"resourceType": "Condition", "clinicalStatus": _status("condition-clinical", "active"),
         "code": _cc(SNOMED, "38341003", "Hypertension"), "subject": {"reference": pref},
         "onsetDateTime": "2019-06-01"},
        {"resourceType": "Condition", "clinicalStatus": _status("condition-clinical", "resolved"),
         "code": _cc(SNOMED, "195662009", "Acute viral pharyngitis"), "subject": {"reference": pref},
         "onsetDateTime": "2020-01-10", "abatementDateTime": "2020-01-20"},
        {"resourceType": "Observation", "status": "final", "category": VITAL, **HR,
         "subject": {"reference": pref}, "effectiveDateTime": "2023-02-01T10:00:00Z",
         "valueQuantity": {"value": 88, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}},
        {"resourceType": "Observation", "status": "final", "category": VITAL, **HR,
         "subject": {"reference": pref}, "encounter": {"reference": "urn:uuid:enc"},
         "effectiveDateTime": "2024-03-05T09:10:00Z",
         "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}},
        {"resourceType": "Observation", "status": "final", "code": _cc(LOINC, "4548-4", "Hemoglobin A1c"),
         "subject": {"reference": pref}, "effectiveDateTime": "2022-11-20T08:00:00Z",
         "valueQuantity": {"value": 6.1, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}},
        {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
         "medicationCodeableConcept": _cc("http://www.nlm.nih.gov/research/umls/rxnorm", "314076",
                                          "lisinopril 10 MG Oral Tablet"),
         "subject": {"reference": pref}, "authoredOn": "2019-06-01",
         "dosageInstruction": [{"sequence": 1,
                                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}}]},
        {"resourceType": "AllergyIntolerance", "clinicalStatus": _status("allergyintolerance-clinical", "active"),
         "code": _cc(SNOMED, "91936005", "Allergy to penicillin"), "patient": {"reference": pref},
         "criticality": "high", "recordedDate": "2010-05-05"},
        {"resourceType": "Encounter", "_fullUrl": "urn:uuid:enc", **enc},
    ]


def create_record(c: httpx.Client, patient: Json | None = None, extra: list[Json] | None = None) -> tuple[str, Json]:
    """POST a transaction with the patient and its clinical entries; (patient id, type/fullUrl → server id)."""
    patient = patient or identified_patient()
    entries = [{"fullUrl": "urn:uuid:pat", "resource": patient, "request": {"method": "POST", "url": "Patient"}}]
    for res in clinical_entries("urn:uuid:pat") + (extra or []):
        res = dict(res)
        full = res.pop("_fullUrl", f"urn:uuid:{uuid.uuid4()}")
        entries.append({"fullUrl": full, "resource": res, "request": {"method": "POST", "url": res["resourceType"]}})
    resp = c.post("/", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}, headers=FHIR_JSON)
    assert resp.status_code == 200, resp.text
    ids = [e["response"]["location"].split("/")[1] for e in resp.json()["entry"]]
    return ids[0], {e["fullUrl"]: f"{e['resource']['resourceType']}/{i}" for e, i in zip(entries, ids, strict=True)}


def load_synthea(c: httpx.Client, prefix: str) -> tuple[Json, dict[str, str]]:
    """Load one Synthea patient's bundle; (the bundle, fullUrl → Type/server id)."""
    f = next(f for f in synthea_files() if f.name.startswith(prefix))
    bundle = orjson.loads(gzip.decompress(f.read_bytes()))
    resp = c.post("/", content=orjson.dumps(bundle), headers=FHIR_JSON)
    assert resp.status_code == 200, resp.text[:300]
    refs = {}
    for entry, answer in zip(bundle["entry"], resp.json()["entry"], strict=True):
        loc = answer["response"]["location"].split("/")
        refs[entry["fullUrl"]] = f"{loc[0]}/{loc[1]}"
    return bundle, refs


def out(params: Json) -> dict[str, Any]:
    """Parameters → name → value (lists for repeating names)."""
    result: dict[str, Any] = {}
    for p in params["parameter"]:
        v = p.get("resource", next((v for k, v in p.items() if k.startswith("value")), None))
        if p["name"] in result:
            prev = result[p["name"]]
            result[p["name"]] = [*prev, v] if isinstance(prev, list) else [prev, v]
        else:
            result[p["name"]] = v
    return result


def section(comp: Json, loinc: str) -> Json:
    return next(s for s in comp["section"] if s.get("code", {}).get("coding", [{}])[0].get("code") == loinc)


def entries(sec: Json) -> set[str]:
    return {e["reference"] for e in sec.get("entry", [])}


def prompt_record(prov: Json) -> Json:
    binary = next(c for c in prov["contained"] if c["resourceType"] == "Binary")
    decoded: Json = json.loads(base64.b64decode(binary["data"]))
    return decoded
