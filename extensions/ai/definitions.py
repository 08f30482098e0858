"""OperationDefinition (http://hl7.org/fhir/R4/operationdefinition.html): ``$summarize`` and ``$triage`` as published.

The CapabilityStatement names these canonicals for Patient (and Encounter for ``$summarize``); the
handlers accept exactly the ``in`` parameters listed here.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
BASE = "urn:fhir-server:OperationDefinition:"


def _p(name: str, use: str, lo: int, hi: str, type_: str, doc: str) -> Json:
    return {"name": name, "use": use, "min": lo, "max": hi, "type": type_, "documentation": doc}


SUMMARIZE: Json = {
    "resourceType": "OperationDefinition",
    "id": "summarize",
    "url": BASE + "summarize",
    "version": "1",
    "name": "Summarize",
    "title": "Grounded, auditable summary of a patient's record or of one encounter",
    "status": "active",
    "kind": "operation",
    "description": (
        "Summarizes the part of the patient's compartment the caller may read (active problems, latest "
        "observation per code, medications, allergies, immunizations, encounters, procedures, upcoming "
        "appointments) as a Composition whose section entries cite the source resources, with a Provenance "
        "(model and prompt template version, input resources with versions, the prompt as sent). The prompt "
        "holds no direct identifiers. Without a configured model, or with mode=offline, a deterministic "
        "template summarizer writes the same Composition. Model failures: timeout 504, rate limit 503 with "
        "Retry-After, refused key 502; nothing is stored on failure. persist=true needs POST."
    ),
    "affectsState": False,
    "code": "summarize",
    "resource": ["Patient", "Encounter"],
    "system": False,
    "type": False,
    "instance": True,
    "parameter": [
        _p("start", "in", 0, "1", "date", "Events (observations, encounters, procedures, immunizations, "
           "appointments) from this date; active problems, allergies and current medications are always kept"),
        _p("end", "in", 0, "1", "date", "Events up to this date"),
        _p("audience", "in", 0, "1", "code", "clinician (default) or patient (plain language)"),
        _p("mode", "in", 0, "1", "code", "auto (default: the model when configured), model, or offline; "
           "model on a server without a configured model (OPENAI_API_KEY) answers 501"),
        _p("persist", "in", 0, "1", "boolean", "Store the Composition and the Provenance (POST only)"),
        _p("shiftDates", "in", 0, "1", "boolean", "Shift every date sent to the model by a random number of "
           "days (shifted back in the answer)"),
        _p("composition", "out", 1, "1", "Composition", "The summary"),
        _p("provenance", "out", 1, "1", "Provenance", "How the summary was made"),
        _p("mode", "out", 1, "1", "code", "model or offline: who wrote the summary"),
        _p("citationsDropped", "out", 1, "1", "integer", "Citations of resources that were not in the input"),
        _p("statementsWithoutSource", "out", 1, "1", "integer", "Statements left with no valid citation"),
        _p("note", "out", 0, "*", "string", "What was left out and why"),
    ],
}

TRIAGE: Json = {
    "resourceType": "OperationDefinition",
    "id": "triage",
    "url": BASE + "triage",
    "version": "1",
    "name": "Triage",
    "title": "Care-level suggestion for a patient's symptoms (not a diagnosis)",
    "status": "active",
    "kind": "operation",
    "description": (
        "Deterministic red-flag rules (chest pain, stroke signs, breathing difficulty, suicidal intent, severe "
        "bleeding, anaphylaxis, loss of consciousness, overdose) answer at once with emergency guidance; "
        "otherwise the model (rules only when none is configured) suggests emergency, urgent, routine or "
        "self-care with reasons. The answer is recorded as a Communication to the patient carrying a "
        "not-a-diagnosis notice."
    ),
    "affectsState": True,
    "code": "triage",
    "resource": ["Patient"],
    "system": False,
    "type": False,
    "instance": True,
    "parameter": [
        _p("symptoms", "in", 1, "1", "string", "The symptoms in the patient's own words"),
        _p("mode", "in", 0, "1", "code", "auto (default), model, or offline (rules only); model on a server "
           "without a configured model (OPENAI_API_KEY) answers 501"),
        _p("careLevel", "out", 1, "1", "code", "emergency | urgent | routine | self-care"),
        _p("emergency", "out", 1, "1", "boolean", "A red flag or the model calls for emergency care"),
        _p("redFlag", "out", 0, "*", "string", "The red-flag rules that matched"),
        _p("reason", "out", 0, "*", "string", "Why this care level"),
        _p("advice", "out", 1, "1", "string", "What to do now"),
        _p("notice", "out", 1, "1", "string", "This is not a diagnosis"),
        _p("source", "out", 1, "1", "code", "rules, model or offline"),
        _p("communication", "out", 1, "1", "Communication", "The answer as recorded for the patient"),
    ],
}
