"""The offline summarizer on a Synthea patient, checked against facts worked out here from the bundle itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.extensions.ai.fake_openai import FakeOpenAI
from tests.extensions.ai.records import create_record, entries, load_synthea, out, section
from tests.helpers import FHIR_JSON

PROBLEMS, VITALS, MEDS, ALLERGIES, PLAN = "11450-4", "8716-3", "10160-0", "48765-2", "18776-5"


def _code(cc: dict) -> str:
    return (cc.get("coding") or [{}])[0].get("code", "")


def _expected(bundle: dict, refs: dict[str, str]) -> dict[str, object]:
    """What R4 says the five sections hold, computed straight from the Synthea bundle."""
    by_type: dict[str, list[tuple[str, dict]]] = {}
    for e in bundle["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append((refs[e["fullUrl"]], e["resource"]))
    problems = {ref: r for ref, r in by_type["Condition"] if _code(r["clinicalStatus"]) == "active"}
    meds = {ref for ref, r in by_type["MedicationRequest"] if r["status"] == "active"}
    allergies = {ref for ref, r in by_type["AllergyIntolerance"] if _code(r["clinicalStatus"]) == "active"}
    latest: dict[str, list[tuple[datetime, str, dict]]] = {}
    for ref, r in by_type["Observation"]:
        if not any(_code(c) == "vital-signs" for c in r.get("category", [])):
            continue
        key = r["code"]["coding"][0]["system"] + "|" + r["code"]["coding"][0]["code"]
        when = datetime.fromisoformat(r["effectiveDateTime"])
        best = latest.setdefault(key, [])
        if not best or when > best[0][0]:
            best[:] = [(when, ref, r)]
        elif when == best[0][0]:
            best.append((when, ref, r))  # a tie: either is the latest
    return {"problems": problems, "meds": meds, "allergies": allergies, "vitals": latest}


def test_offline_summary_of_a_synthea_patient(client: httpx.Client) -> None:
    bundle, refs = load_synthea(client, "Reyna_Ziemann")
    pid = next(v for v in refs.values() if v.startswith("Patient/"))
    expected = _expected(bundle, refs)
    assert len(expected["problems"]) == 7 and len(expected["meds"]) == 5 and len(expected["allergies"]) == 10
    resp = client.get(f"/{pid}/$summarize")  # no API key on this server: the offline summarizer
    assert resp.status_code == 200, resp.text
    result = out(resp.json())
    assert result["mode"] == "offline" and result["citationsDropped"] == 0
    comp = result["composition"]
    assert [s["title"] for s in comp["section"]] == ["Active problems", "Latest vital signs", "Current medications",
                                                    "Allergies and intolerances", "Upcoming appointments"]
    problems = section(comp, PROBLEMS)
    assert entries(problems) == set(expected["problems"])
    for cond in expected["problems"].values():
        assert cond["code"]["text"] in problems["text"]["div"]
        assert cond["onsetDateTime"][:10] in problems["text"]["div"]
    assert entries(section(comp, MEDS)) == expected["meds"]
    assert entries(section(comp, ALLERGIES)) == expected["allergies"]
    vitals = section(comp, VITALS)
    cited = entries(vitals)
    assert len(cited) == len(expected["vitals"])  # one per vital-sign code
    for tied in expected["vitals"].values():
        assert len(cited & {ref for _, ref, _ in tied}) == 1
        when, _, obs = tied[0]
        assert f"{obs['code']['text']}" in vitals["text"]["div"] and when.date().isoformat() in vitals["text"]["div"]
    plan = section(comp, PLAN)
    assert "entry" not in plan and plan["emptyReason"]["coding"][0]["code"] == "nilknown"
    inputs = {e["what"]["reference"] for e in result["provenance"]["entity"]} - {"#prompt"}
    all_cited = set().union(*(entries(s) for s in comp["section"]))
    assert inputs == {f"{r}/_history/1" for r in all_cited}


def test_upcoming_appointments_only(client: httpx.Client) -> None:
    soon = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    past = soon - timedelta(days=400)

    def appt(start: datetime, status: str, text: str) -> dict:
        return {"resourceType": "Appointment", "status": status, "appointmentType": {"text": text},
                "start": start.isoformat().replace("+00:00", "Z"),
                "end": (start + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
                "participant": [{"actor": {"reference": "urn:uuid:pat"}, "status": "accepted"}]}

    pid, _ = create_record(client, extra=[appt(soon, "booked", "Diabetes follow-up"),
                                          appt(past, "fulfilled", "Old visit"),
                                          appt(soon, "cancelled", "Cancelled visit")])
    result = out(client.get(f"/Patient/{pid}/$summarize").json())
    plan = section(result["composition"], PLAN)
    assert len(plan["entry"]) == 1
    assert f"Diabetes follow-up on {soon.date().isoformat()} (booked)" in plan["text"]["div"]
    assert "Old visit" not in plan["text"]["div"] and "Cancelled" not in plan["text"]["div"]


def test_mode_offline_does_not_call_the_model(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    body = {"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "offline"},
                                                         {"name": "persist", "valueBoolean": True}]}
    resp = ai.post(f"/Patient/{pid}/$summarize", json=body, headers=FHIR_JSON)
    assert resp.status_code == 200, resp.text
    result = out(resp.json())
    assert result["mode"] == "offline" and fake_openai.requests == []
    assert ai.get(f"/Composition/{result['composition']['id']}").status_code == 200
    device = result["provenance"]["contained"][0]
    assert device["type"]["text"] == "Rule-based summarizer"
