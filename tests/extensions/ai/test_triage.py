"""$triage over HTTP: red flags answer without the model; otherwise the model's care level; always a Communication."""

from __future__ import annotations

import httpx

from tests.extensions.ai.fake_openai import FakeOpenAI
from tests.extensions.ai.records import create_record, identified_patient, identifiers, out
from tests.helpers import FHIR_JSON, assert_outcome


def _triage(c: httpx.Client, pid: str, symptoms: str, **extra: str) -> httpx.Response:
    params = [{"name": "symptoms", "valueString": symptoms}]
    params += [{"name": k, "valueCode": v} for k, v in extra.items()]
    return c.post(f"/Patient/{pid}/$triage", json={"resourceType": "Parameters", "parameter": params},
                  headers=FHIR_JSON)


def test_red_flag_answers_at_once_without_the_model(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    resp = _triage(ai, pid, "Crushing chest pain spreading to my left arm for 20 minutes, I'm sweating")
    assert resp.status_code == 200, resp.text
    result = out(resp.json())
    assert fake_openai.requests == []  # the model was not consulted
    assert result["careLevel"] == "emergency" and result["emergency"] is True and result["source"] == "rules"
    assert result["redFlag"] == "chest-pain"
    assert "emergency number" in result["advice"]
    comm = result["communication"]
    assert comm["priority"] == "stat" and comm["status"] == "completed"
    assert comm["category"][0]["coding"][0]["code"] == "alert"
    assert comm["recipient"] == [{"reference": f"Patient/{pid}"}] and comm["subject"] == {"reference": f"Patient/{pid}"}
    assert "not a diagnosis" in comm["payload"][0]["contentString"]
    stored = ai.get(f"/Communication/{comm['id']}").json()
    assert stored["payload"] == comm["payload"] and stored["meta"]["versionId"] == "1"


def test_suicidal_intent_gets_crisis_line(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    result = out(_triage(ai, pid, "I don't want to live anymore").json())
    assert result["careLevel"] == "emergency" and result["redFlag"] == "suicidal-intent"
    assert "988" in result["advice"] and fake_openai.requests == []


def test_model_suggests_a_care_level(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    patient = identified_patient()
    pid, _ = create_record(ai, patient)
    fake_openai.forbidden = identifiers(patient, pid)
    name = f"{patient['name'][0]['given'][0]} {patient['name'][0]['family']}"
    resp = _triage(ai, pid, f"Hi, this is {name}. Scratchy throat and a runny nose since yesterday, no fever.")
    assert resp.status_code == 200, resp.text
    result = out(resp.json())
    assert result["careLevel"] == "self-care" and result["emergency"] is False and result["source"] == "model"
    assert result["reason"] == "Mild symptoms for a short time." and "notice" in result
    sent = fake_openai.requests[0]
    user = sent["body"]["messages"][1]["content"]
    assert "Scratchy throat" in user and "[redacted]" in user  # the name the patient typed was scrubbed
    assert "careLevel" in sent["body"]["messages"][0]["content"]
    assert sent["body"]["response_format"] == {"type": "json_object"}
    comm = result["communication"]
    assert comm["priority"] == "routine" and comm["category"][0]["coding"][0]["code"] == "instruction"
    assert "self-care" in comm["payload"][0]["contentString"]


def test_without_a_model_only_rules_answer(client: httpx.Client) -> None:
    pid, _ = create_record(client)
    result = out(_triage(client, pid, "a mild rash on my elbow").json())
    assert result["careLevel"] == "routine" and result["source"] == "offline"
    assert "not a diagnosis" in result["notice"]
    result = out(_triage(client, pid, "my face is drooping and my speech is slurred").json())
    assert result["careLevel"] == "emergency" and result["redFlag"] == "stroke-signs"
    assert_outcome(_triage(client, pid, "a rash", mode="model"), 501)


def test_triage_input_errors(ai: httpx.Client) -> None:
    pid, _ = create_record(ai)
    assert_outcome(ai.get(f"/Patient/{pid}/$triage", params={"symptoms": "cough"}), 405)  # it records data
    assert_outcome(_triage(ai, pid, "   "), 400)
    assert_outcome(_triage(ai, pid, "x" * 5000), 400)
    assert_outcome(_triage(ai, pid, "cough", mode="psychic"), 400)
    assert_outcome(_triage(ai, pid, "cough", sypmtoms="typo"), 400)
    body = {"resourceType": "Parameters", "parameter": [{"name": "symptoms", "resource": {"resourceType": "Basic"}}]}
    assert_outcome(ai.post(f"/Patient/{pid}/$triage", json=body, headers=FHIR_JSON), 400)
    assert_outcome(_triage(ai, "no-such-patient", "cough"), 404)
