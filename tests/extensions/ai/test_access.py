"""The AI operations read and write only what the caller's access allows (a patient-A token cannot summarize B)."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer
from tests.extensions.ai.fake_openai import FakeOpenAI
from tests.extensions.ai.records import create_record, out, prompt_record, section
from tests.helpers import FHIR_JSON, assert_outcome

SYMPTOMS = {"resourceType": "Parameters", "parameter": [{"name": "symptoms", "valueString": "a mild rash"}]}


def test_patient_a_cannot_summarize_or_triage_patient_b(ai: httpx.Client, ai_live: LiveServer,
                                                        fake_openai: FakeOpenAI) -> None:
    a, _ = create_record(ai)
    b, b_ids = create_record(ai)
    as_a = {"X-Test-Patient": a}
    assert ai.get(f"/Patient/{a}/$summarize", headers=as_a).status_code == 200
    fake_openai.reset()
    assert_outcome(ai.get(f"/Patient/{b}/$summarize", headers=as_a), 403, "forbidden")
    assert_outcome(ai.get(f"/{b_ids['urn:uuid:enc']}/$summarize", headers=as_a), 403, "forbidden")
    assert_outcome(ai.post(f"/Patient/{b}/$triage", json=SYMPTOMS, headers={**as_a, **FHIR_JSON}), 403)
    assert fake_openai.requests == []  # nothing about B was sent anywhere
    rows = ai_live.db.execute("SELECT count(*) FROM resource WHERE res_type = 'Communication' AND "
                              "content::text LIKE %s", [f"%Patient/{b}%"])
    assert rows[0][0] == 0


def test_summary_of_a_holds_nothing_of_b(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    a, a_ids = create_record(ai)
    _, b_ids = create_record(ai)
    result = out(ai.get(f"/Patient/{a}/$summarize", headers={"X-Test-Patient": a}).json())
    aliases = set(prompt_record(result["provenance"])["aliases"].values())
    assert aliases and all(r.rsplit("/_history/", 1)[0] in a_ids.values() for r in aliases)
    assert not set(b_ids.values()) & {r.rsplit("/_history/", 1)[0] for r in aliases}


def test_types_the_caller_may_not_read_are_withheld(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    headers = {"X-Test-Patient": pid, "X-Test-Read": "Patient,Condition,MedicationRequest,AllergyIntolerance"}
    result = out(ai.get(f"/Patient/{pid}/$summarize", headers=headers, params={"mode": "offline"}).json())
    vitals = section(result["composition"], "8716-3")
    assert vitals["emptyReason"]["coding"][0]["code"] == "withheld" and "entry" not in vitals
    assert any("Observation resources were left out" in n for n in result["note"])
    assert section(result["composition"], "11450-4")["entry"]  # the problems it may read are there
    ai.get(f"/Patient/{pid}/$summarize", headers=headers)
    user = fake_openai.requests[-1]["body"]["messages"][1]["content"]
    assert "| Observation |" not in user and "| Encounter |" not in user and "Hypertension" in user


def test_persist_needs_write_access(ai: httpx.Client, ai_live: LiveServer) -> None:
    pid, _ = create_record(ai)
    body = {"resourceType": "Parameters", "parameter": [{"name": "persist", "valueBoolean": True}]}
    headers = {"X-Test-Patient": pid, "X-Test-Write": "no", **FHIR_JSON}
    assert_outcome(ai.post(f"/Patient/{pid}/$summarize", json=body, headers=headers), 403)
    rows = ai_live.db.execute("SELECT count(*) FROM resource WHERE res_type = 'Composition' AND "
                              "content::text LIKE %s", [f"%Patient/{pid}%"])
    assert rows[0][0] == 0


def test_an_access_object_that_cannot_answer_is_refused(ai: httpx.Client) -> None:
    pid, _ = create_record(ai)
    assert_outcome(ai.get(f"/Patient/{pid}/$summarize", headers={"X-Test-Patient": "half-wired"}), 403)
