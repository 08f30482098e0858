"""De-identification pieces: identifying strings, scrubbing, ages (Safe Harbor: 90 and over), date shifts."""

from __future__ import annotations

from datetime import date

from extensions.ai.deidentify import REDACTED, DateShift, age, identifying_terms, scrub


def test_identifying_terms_cover_names_address_telecom_identifiers_and_extensions() -> None:
    patient = {
        "resourceType": "Patient", "id": "p-123",
        "name": [{"family": "Ziemann98", "given": ["Reyna401"], "prefix": ["Mrs."]}],
        "identifier": [{"value": "999-88-7777"}], "telecom": [{"value": "555-321-7788"}],
        "address": [{"line": ["12 Birch Lane"], "city": "Falmouthville", "postalCode": "02540", "state": "MA"}],
        "birthDate": "1975-05-24", "gender": "female",
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
                       "valueString": "Emelina Daugherty"},
                      {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                       "extension": [{"url": "text", "valueString": "White"}]}],
    }
    terms = identifying_terms(patient)
    for t in ("p-123", "Ziemann98", "Ziemann", "Reyna401", "Reyna", "999-88-7777", "555-321-7788",
              "12 Birch Lane", "Falmouthville", "02540", "1975-05-24", "Emelina", "Daugherty"):
        assert t in terms, t
    assert "White" not in terms and "female" not in terms and "MA" not in terms


def test_scrub_replaces_whole_words_case_insensitively() -> None:
    text, n = scrub("Reyna reports REYNA's cough; Reynaldo is fine.", ["Reyna"])
    assert text == f"{REDACTED} reports {REDACTED}'s cough; Reynaldo is fine." and n == 2
    assert scrub("nothing here", []) == ("nothing here", 0)


def test_age_in_years_and_safe_harbor_cap() -> None:
    today = date(2026, 3, 1)
    assert age("1961-04-17", today) == "64 years"  # birthday not yet reached in 2026
    assert age("1961-02-17", today) == "65 years"
    assert age("1936-03-01", today) == "90 or older"
    assert age("2025-12", today) == "under 1 year"
    assert age(None, today) == "unknown"


def test_date_shift_applies_and_restores() -> None:
    shift = DateShift(-40)
    assert shift.apply("2024-03-05T09:10:00Z") == "2024-01-25"
    assert shift.apply("2024") is None  # a year cannot be shifted by days
    assert DateShift(0).apply("2024-03") == "2024-03"
    assert shift.restore("seen on 2024-01-25 and 2023-12-22; not 2024-13-40") == \
        "seen on 2024-03-05 and 2024-01-31; not 2024-13-40"
    for _ in range(20):
        assert 30 <= abs(DateShift.random().days) <= 365
