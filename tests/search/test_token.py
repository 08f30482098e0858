"""token parameters (R4 search.html#token): code, system|code, |code, system|, and the modifiers
:not (resources without a value match), :text, :of-type, :missing, :in / :not-in (shipped value
sets), :below / :above (code system hierarchy); on Identifier, CodeableConcept, Coding, code,
boolean, ContactPoint and string-valued elements."""

from __future__ import annotations

import pytest

from tests.search import data
from tests.search.conftest import Searcher

OTHER = data.ALL_PATIENTS


@pytest.mark.parametrize(("query", "expected"), [
    # code (with the implicit system of its required binding)
    ("gender=female", {"pat-1"}),
    ("gender=male", {"pat-2", "pat-6"}),
    ("gender=male,other", {"pat-2", "pat-3", "pat-6"}),
    ("gender=http://hl7.org/fhir/administrative-gender|male", {"pat-2", "pat-6"}),
    ("gender=http://example.org/other-system|male", set()),
    ("gender:not=male", OTHER - {"pat-2", "pat-6"}),  # pat-4 has no gender and is included
    ("gender:missing=true", {"pat-4"}),
    ("gender:missing=false", OTHER - {"pat-4"}),
    ("gender:in=http://hl7.org/fhir/ValueSet/administrative-gender", OTHER - {"pat-4"}),
    ("gender:not-in=http://hl7.org/fhir/ValueSet/administrative-gender", {"pat-4"}),
    # boolean
    ("active=true", {"pat-1"}),
    ("active=false", {"pat-2"}),
    ("active:not=true", OTHER - {"pat-1"}),
    ("deceased=true", {"pat-4"}),
    # Identifier
    ("identifier=A100", {"pat-1", "pat-3"}),
    ("identifier=urn:mrn|A100", {"pat-1"}),
    ("identifier=urn:mrn|", {"pat-1", "pat-2"}),
    ("identifier=|NOSYS", {"pat-2"}),
    ("identifier=|A100", set()),  # both A100s have a system
    ("identifier=a100", set()),  # tokens are not case-folded
    ("identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|A100", {"pat-1"}),
    ("identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|B200", set()),
    ("identifier:text=medical", {"pat-1"}),
    ("identifier:not=urn:mrn|A100", OTHER - {"pat-1"}),
    # ContactPoint: the value, with no system URI
    ("telecom=555-0101", {"pat-1"}),
    ("telecom=|555-0202", {"pat-2"}),
    ("phone=555-0202", {"pat-2"}),
    ("phone=renee@example.org", set()),
    ("email=renee@example.org", {"pat-1"}),
])
def test_patient_tokens(s: Searcher, query: str, expected: set[str]) -> None:
    assert s.ids(f"/Patient?{query}") == expected


@pytest.mark.parametrize(("query", "expected"), [
    # CodeableConcept: any coding; code alone ignores the system
    ("code=8480-6", {"obs-1", "obs-3"}),
    ("code=http://loinc.org|8480-6", {"obs-1"}),
    ("code=http://example.org/codes|8480-6", {"obs-3"}),
    ("code=http://loinc.org|", {"obs-1", "obs-2", "obs-4", "obs-5", "obs-7", "obs-8"}),
    ("code=http://loinc.org|8480-6,http://loinc.org|8867-4", {"obs-1", "obs-2"}),
    ("code:not=http://loinc.org|8480-6", data.ALL_OBS - {"obs-1"}),
    ("code:missing=true", set()),
    # :text: CodeableConcept.text and Coding.display, by word start
    ("code:text=systolic", {"obs-1"}),
    ("code:text=Systolic BP", {"obs-1"}),
    ("code:text=rate", {"obs-2"}),
    ("code:text=free", {"obs-6"}),
    ("code:text=ree", set()),
    ("value-concept:text=never", {"obs-8"}),
    ("value-concept=http://snomed.info/sct|266919005", {"obs-8"}),
    # :in / :not-in: the shipped observation-category value set (system and code must both match)
    ("category:in=http://hl7.org/fhir/ValueSet/observation-category", {"obs-1", "obs-2", "obs-4"}),
    ("category:not-in=http://hl7.org/fhir/ValueSet/observation-category",
     {"obs-3", "obs-5", "obs-6", "obs-7", "obs-8", "obs-9"}),
    ("category=laboratory", {"obs-3", "obs-4"}),
    ("category:not=vital-signs", data.ALL_OBS - {"obs-1", "obs-2"}),
    ("category:missing=true", {"obs-5", "obs-6", "obs-7", "obs-8", "obs-9"}),
    # string-valued tokens, and combo-code over code and component codes
    ("status=preliminary", {"obs-6"}),
    ("status:not=final", {"obs-6"}),
    ("combo-code=8480-6", {"obs-1", "obs-3", "obs-5"}),
    ("component-code=http://loinc.org|8462-4", {"obs-5"}),
])
def test_observation_tokens(s: Searcher, query: str, expected: set[str]) -> None:
    assert s.ids(f"/Observation?{query}") == expected


def test_hierarchy_below_and_above(s: Searcher) -> None:
    # v3 ActCode: ACUTE and NONAC specialise IMP (inpatient encounter)
    act = data.ACT
    assert s.ids(f"/Encounter?class={act}|IMP") == {"enc-1"}
    assert s.ids(f"/Encounter?class:below={act}|IMP") == {"enc-1", "enc-2"}
    assert s.ids(f"/Encounter?class:above={act}|ACUTE") == {"enc-1", "enc-2"}
    assert s.ids(f"/Encounter?class:above={act}|IMP") == {"enc-1"}
    assert s.ids(f"/Encounter?class:below={act}|AMB") == {"enc-3"}


def test_token_escaped_bar(s: Searcher) -> None:
    # "urn:mrn\|A100" is one code containing a bar: no identifier has that value
    assert s.ids("/Patient?identifier=urn:mrn\\|A100") == set()


def test_id_is_a_token(s: Searcher) -> None:
    assert s.ids("/Patient?_id=pat-1,pat-3") == {"pat-1", "pat-3"}
    assert s.ids("/Patient?_id:not=pat-1") == data.ALL_PATIENTS - {"pat-1"}
    assert s.ids("/Patient?_id=nope") == set()
