"""Composition and Provenance (http://hl7.org/fhir/R4/composition.html, provenance.html): summary and audit.

The summary is a Composition (type LOINC 60591-5 "Patient summary Document", status preliminary:
nobody has reviewed it) with one section per topic (the section codes of the International Patient
Summary); each statement is a list item whose footnotes link the resources it cites, and the
section's ``entry`` lists them. The Provenance names the agent (a contained Device: the model as
configured and as it answered, and the prompt template version), every input resource with its
version, and the prompt exactly as sent (a contained Binary).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from typing import Any

from extensions.ai.citations import Draft, Statement
from extensions.ai.facts import Fact

Json = dict[str, Any]
LOINC = "http://loinc.org"
PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
XHTML = "http://www.w3.org/1999/xhtml"

# key → (clinician title, patient title, LOINC section code and display)
SECTIONS: dict[str, tuple[str, str, tuple[str, str] | None]] = {
    "overview": ("Overview", "In short", None),
    "problems": ("Active problems", "Your health problems", ("11450-4", "Problem list - Reported")),
    "medications": ("Current medications", "Your medicines", ("10160-0", "History of Medication use Narrative")),
    "allergies": ("Allergies and intolerances", "Your allergies",
                  ("48765-2", "Allergies and adverse reactions Document")),
    "vitals": ("Latest vital signs", "Your latest measurements", ("8716-3", "Vital signs")),
    "results": ("Recent results", "Your recent test results",
                ("30954-2", "Relevant diagnostic tests/laboratory data Narrative")),
    "immunizations": ("Immunizations", "Your vaccines", ("11369-6", "History of Immunization Narrative")),
    "procedures": ("Procedures", "Your procedures", ("47519-4", "History of Procedures Document")),
    "encounters": ("Encounters", "Your visits",
                   ("46240-8", "History of Hospitalizations+Outpatient visits Narrative")),
    "appointments": ("Upcoming appointments", "Your upcoming appointments", ("18776-5", "Plan of care note")),
}


@dataclass(frozen=True, slots=True)
class Agent:
    """Who wrote the summary: a model (name as configured, as it answered) or the offline templates."""

    kind: str  # "AI language model" | "Rule-based summarizer"
    name: str
    version: str
    template: str  # e.g. summarize-clinician/1

    def device(self, device_id: str) -> Json:
        return {"resourceType": "Device", "id": device_id, "type": {"text": self.kind},
                "deviceName": [{"name": self.name, "type": "model-name"}],
                "version": [{"value": self.version},
                            {"type": {"text": "prompt template"}, "value": self.template}]}


def _div(body: str) -> Json:
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'}


def _item(statement: Statement, numbers: dict[str, int]) -> str:
    text = html.escape(statement.text, quote=False)
    if not statement.sources:
        return f"<li>{text} <em>(no cited source)</em></li>"
    notes = ",".join(f'<a href="{html.escape(f.reference)}">{numbers[f.reference]}</a>' for f in statement.sources)
    return f"<li>{text} <sup>[{notes}]</sup></li>"


def section(key: str, statements: list[Statement], audience: str, withheld: bool) -> Json:
    clinician, patient, code = SECTIONS.get(key, SECTIONS["overview"])
    out: Json = {"title": patient if audience == "patient" else clinician}
    if code is not None:
        out["code"] = {"coding": [{"system": LOINC, "code": code[0], "display": code[1]}]}
    numbers: dict[str, int] = {}
    for s in statements:
        for f in s.sources:
            numbers.setdefault(f.reference, len(numbers) + 1)
    if statements:
        out["text"] = _div("<ul>" + "".join(_item(s, numbers) for s in statements) + "</ul>")
    else:
        why = "Not shown: the caller may not read these records." if withheld else "None recorded."
        out["text"] = _div(f"<p>{why}</p>")
    if numbers:
        out["entry"] = [{"reference": ref} for ref in numbers]
    else:
        reason = ("withheld", "Information Withheld") if withheld else ("nilknown", "Nil Known")
        out["emptyReason"] = {"coding": [{"system": EMPTY_REASON, "code": reason[0], "display": reason[1]}]}
    return out


def composition(comp_id: str, subject: str, encounter: str | None, draft: Draft, order: list[str], audience: str,
                agent: Agent, now: str, withheld: set[str], period: tuple[str | None, str | None]) -> Json:
    keys = order + [k for k in draft.sections if k not in order]
    title = "Encounter summary" if encounter else ("Your health summary" if audience == "patient"
                                                   else "Patient summary")
    out: Json = {
        "resourceType": "Composition", "id": comp_id,
        "contained": [agent.device("author")],
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{comp_id}"},
        "status": "preliminary",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}],
                 "text": "Patient summary"},
        "subject": {"reference": subject},
        "date": now,
        "author": [{"reference": "#author"}],
        "title": title,
        "section": [section(k, draft.sections.get(k, []), audience, k in withheld) for k in keys],
    }
    if encounter:
        out["encounter"] = {"reference": encounter}
    if period[0] or period[1]:
        out["event"] = [{"period": {k: v for k, v in (("start", period[0]), ("end", period[1])) if v}}]
    return out


def provenance(prov_id: str, comp: Json, persisted: bool, inputs: list[Fact], agent: Agent, prompt_record: Json,
               now: str) -> Json:
    target: Json = {"type": "Composition", "identifier": comp["identifier"]}
    if persisted:
        target["reference"] = f"Composition/{comp['id']}/_history/1"
    data = base64.b64encode(json.dumps(prompt_record, ensure_ascii=False).encode()).decode()
    entities = [{"role": "source", "what": {"reference": f"{f.reference}/_history/{f.version}"}} for f in inputs]
    entities.append({"role": "source", "what": {"reference": "#prompt", "display": "The prompt as sent"}})
    return {
        "resourceType": "Provenance", "id": prov_id,
        "contained": [agent.device("agent"),
                      {"resourceType": "Binary", "id": "prompt", "contentType": "application/json", "data": data}],
        "target": [target],
        "recorded": now,
        "policy": [prompt_record["policy"]],
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                 "code": "CREATE", "display": "create"}]},
        "agent": [{"type": {"coding": [{"system": PARTICIPANT, "code": "author", "display": "Author"}]},
                   "who": {"reference": "#agent"}}],
        "entity": entities,
    }
