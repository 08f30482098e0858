"""$summarize through the model: the real openai client over HTTP to the fake endpoint, the real app and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date

import httpx

from tests.extensions.ai.conftest import MODEL
from tests.extensions.ai.fake_openai import ANSWER_MODEL, FakeOpenAI
from tests.extensions.ai.records import (
    create_record,
    entries,
    identified_patient,
    identifiers,
    out,
    prompt_record,
    section,
)
from tests.helpers import FHIR_JSON


def _post(ai: httpx.Client, path: str, **params: object) -> httpx.Response:
    body = {"resourceType": "Parameters", "parameter": [
        {"name": k, **({"valueBoolean": v} if isinstance(v, bool) else {"valueString": str(v)})}
        for k, v in params.items()]}
    return ai.post(path, json=body, headers=FHIR_JSON)


def test_prompt_has_no_identifiers_and_the_answer_is_grounded(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    patient = identified_patient()
    pid, ids = create_record(ai, patient)
    fake_openai.forbidden = identifiers(patient, pid)  # the fake refuses (400) a prompt carrying any of them
    resp = ai.get(f"/Patient/{pid}/$summarize")
    assert resp.status_code == 200, resp.text
    assert len(fake_openai.requests) == 1
    sent = fake_openai.requests[0]
    assert sent["body"]["model"] == MODEL
    assert [m["role"] for m in sent["body"]["messages"]] == ["system", "user"]
    raw = sent["raw"].lower()
    assert not [s for s in identifiers(patient, pid) if s.lower() in raw]
    assert "female" in raw and f"age {date.today().year - 1961 - (date.today() < date(date.today().year, 4, 17))}" \
        in raw
    result = out(resp.json())
    assert result["mode"] == "model"
    # the fake cites one fact per statement, plus an overview citing 'R9999' and 'Condition/made-up'
    assert result["citationsDropped"] == 2
    assert result["statementsWithoutSource"] == 1
    comp = result["composition"]
    assert comp["resourceType"] == "Composition" and comp["status"] == "preliminary"
    assert comp["type"]["coding"][0] == {"system": "http://loinc.org", "code": "60591-5",
                                         "display": "Patient summary Document"}
    assert comp["subject"] == {"reference": f"Patient/{pid}"}
    cited = set().union(*(entries(s) for s in comp["section"]))
    record = set(ids.values()) - {f"Patient/{pid}"}
    assert cited and cited <= record
    # the active problem and the current medication were sent and cited; the older heart rate was not sent
    assert ids["urn:uuid:enc"] in cited
    assert sum(1 for r in cited if r.startswith("Observation/")) == 2  # latest heart rate + the A1c
    overview = comp["section"][0]
    assert overview["title"] == "Overview" and "no cited source" in overview["text"]["div"]


def test_provenance_records_model_template_inputs_and_prompt(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    result = out(ai.get(f"/Patient/{pid}/$summarize").json())
    prov = result["provenance"]
    device = next(c for c in prov["contained"] if c["resourceType"] == "Device")
    assert device["deviceName"][0]["name"] == MODEL
    assert device["version"][0]["value"] == ANSWER_MODEL  # the model as the endpoint named it
    assert device["version"][1]["value"] == "summarize-clinician/1"
    assert prov["policy"] == ["urn:fhir-server:prompt:summarize-clinician:1"]
    assert prov["agent"][0]["who"] == {"reference": "#agent"}
    inputs = {e["what"]["reference"] for e in prov["entity"] if not e["what"]["reference"].startswith("#")}
    assert all(re.fullmatch(r"[A-Za-z]+/[^/]+/_history/1", r) for r in inputs)
    # every cited resource is an input, and the recorded prompt is exactly what the endpoint received
    cited = set().union(*(entries(s) for s in result["composition"]["section"]))
    assert cited <= {r.rsplit("/_history/", 1)[0] for r in inputs}
    recorded = prompt_record(prov)
    assert recorded["messages"] == fake_openai.requests[0]["body"]["messages"]
    assert recorded["templateVersion"] == "1" and recorded["dateShiftDays"] == 0
    assert set(recorded["aliases"].values()) == inputs
    assert prov["target"][0]["identifier"] == result["composition"]["identifier"]
    assert "reference" not in prov["target"][0]  # not persisted


def test_persist_stores_composition_and_provenance(ai: httpx.Client) -> None:
    pid, _ = create_record(ai)
    assert ai.get(f"/Patient/{pid}/$summarize", params={"persist": "true"}).status_code == 405  # POST only
    resp = _post(ai, f"/Patient/{pid}/$summarize", persist=True)
    assert resp.status_code == 200, resp.text
    result = out(resp.json())
    comp_id, prov = result["composition"]["id"], result["provenance"]
    stored = ai.get(f"/Composition/{comp_id}").json()
    assert stored["meta"]["versionId"] == "1" and stored["section"] == result["composition"]["section"]
    got = ai.get(f"/Provenance/{prov['id']}").json()
    assert got["target"][0]["reference"] == f"Composition/{comp_id}/_history/1"
    found = ai.get("/Provenance", params={"target": f"Composition/{comp_id}"}).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [prov["id"]]


def test_patient_audience_uses_plain_language(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    result = out(ai.get(f"/Patient/{pid}/$summarize", params={"audience": "patient"}).json())
    system = fake_openai.requests[0]["body"]["messages"][0]["content"]
    assert "plain language" in system and "12-year-old" in system
    titles = [s["title"] for s in result["composition"]["section"]]
    assert "Your health problems" in titles and "Your medicines" in titles
    assert result["composition"]["title"] == "Your health summary"
    assert result["provenance"]["policy"] == ["urn:fhir-server:prompt:summarize-patient:1"]


def test_shifted_dates_are_shifted_back_in_the_answer(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    result = out(ai.get(f"/Patient/{pid}/$summarize", params={"shiftDates": "true"}).json())
    user = fake_openai.requests[0]["body"]["messages"][1]["content"]
    assert "2019-06-01" not in user and "2024-03-05" not in user  # the real dates never left
    shift = prompt_record(result["provenance"])["dateShiftDays"]
    assert 30 <= abs(shift) <= 365
    div = section(result["composition"], "11450-4")["text"]["div"]
    assert "Hypertension" in div and "onset 2019-06-01" in div  # the fake echoed the shifted date; restored


def test_window_and_encounter_scope(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    pid, ids = create_record(ai)
    ai.get(f"/Patient/{pid}/$summarize", params={"start": "2024-01-01", "end": "2024-12-31"})
    user = fake_openai.requests[-1]["body"]["messages"][1]["content"]
    assert "Heart rate; 72 /min; on 2024-03-05" in user
    assert "Hemoglobin A1c" not in user  # 2022: outside the window
    assert "Hypertension" in user  # an active problem is kept whatever the window
    assert "Acute viral pharyngitis" not in user  # resolved, and recorded before the window
    enc = ids["urn:uuid:enc"]
    resp = ai.get(f"/{enc}/$summarize", params={"start": "2030-01-01"})
    assert resp.status_code == 200, resp.text
    assert "start/end do not apply" in out(resp.json())["note"]
    user = fake_openai.requests[-1]["body"]["messages"][1]["content"]
    assert "Heart rate; 72 /min" in user and "88 /min" not in user and "Hemoglobin A1c" not in user
    assert "Allergy to penicillin" in user  # allergies always travel with an encounter summary
    comp = out(resp.json())["composition"]
    assert comp["encounter"] == {"reference": enc} and comp["title"] == "Encounter summary"
