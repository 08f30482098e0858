"""Scopes in plain words for the consent page (SMART App Launch 2.x scopes-and-launch-context; the
resource types' descriptions in FHIR R4 as a person would say them).

``patient/Observation.rs`` reads "See your test results, measurements and vital signs"; the type
name stays in brackets for those who know it. Unknown types fall back to their FHIR name.
"""

from __future__ import annotations

from smart_auth.scopes import ResourceScope

OTHER = {
    "openid": "Know who you are (your name and account)",
    "fhirUser": "Know which record in this system is yours",
    "profile": "See your name and profile",
    "offline_access": "Keep access until you take it back, even when you are not using the app",
    "online_access": "Keep access while you are signed in here",
}
THINGS = {
    "*": "all health information",
    "Patient": "basic details (name, date of birth, contact details)",
    "Observation": "test results, measurements and vital signs",
    "Condition": "health problems and diagnoses",
    "MedicationRequest": "prescriptions",
    "MedicationStatement": "medicines taken",
    "Medication": "medicine information",
    "AllergyIntolerance": "allergies",
    "Immunization": "vaccinations",
    "Encounter": "visits and admissions",
    "Appointment": "appointments",
    "Procedure": "procedures and operations",
    "DiagnosticReport": "test reports",
    "DocumentReference": "documents and letters",
    "CarePlan": "care plans",
    "CareTeam": "care teams",
    "Goal": "health goals",
    "Practitioner": "information about doctors and other clinicians",
    "PractitionerRole": "clinicians' roles and places of work",
    "Organization": "information about clinics and hospitals",
    "Location": "places of care",
    "Communication": "messages",
    "Coverage": "insurance coverage",
    "Schedule": "clinicians' schedules",
    "Slot": "free appointment times",
}
VERBS = {"r": "see", "s": "search", "c": "add", "u": "change", "d": "delete"}


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def describe(scope: ResourceScope) -> str:
    """One scope as a sentence a patient understands."""
    verbs = [VERBS[c] for c in "rscud" if c in scope.perms]
    thing = THINGS.get(scope.res_type, f"{scope.res_type} records")
    owner = {"patient": "this patient's ", "user": "", "system": ""}[scope.context]
    reach = {"patient": "", "user": " you have access to", "system": ""}[scope.context]
    text = f"{_join(verbs).capitalize()} {owner}{thing}{reach}"
    if scope.query:
        text += " (only " + ", ".join(f"{k} {v.rsplit('|', 1)[-1]}" for k, v in scope.query) + ")"
    kind = "all types" if scope.res_type == "*" else scope.res_type
    return f"{text} [{kind}]"


def describe_other(name: str) -> str | None:
    return OTHER.get(name)
