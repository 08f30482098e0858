"""Local terminology over the R4 definitions: expected codes are read off the R4 spec pages
(valueset-*.html / codesystem-*.html, v3 and v2 hierarchy tables), not taken from the code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fhir_server import terminology
from fhir_server.terminology import valueset

GENDER = "http://hl7.org/fhir/administrative-gender"
ACT_MOOD = "http://terminology.hl7.org/CodeSystem/v3-ActMood"
V2_0131 = "http://terminology.hl7.org/CodeSystem/v2-0131"


def test_extensional_include_all_of_a_code_system() -> None:
    # http://hl7.org/fhir/R4/valueset-administrative-gender.html
    assert terminology.expand("http://hl7.org/fhir/ValueSet/administrative-gender") == frozenset(
        {(GENDER, "male"), (GENDER, "female"), (GENDER, "other"), (GENDER, "unknown")}
    )


def test_version_suffix_is_ignored() -> None:
    url = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert terminology.expand(url + "|4.0.1") == terminology.expand(url)


def test_unknown_value_set_is_not_expandable() -> None:
    assert terminology.expand("http://example.org/ValueSet/nope") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://hl7.org/fhir/ValueSet/currencies",  # all of urn:iso:std:iso:4217
        "http://hl7.org/fhir/ValueSet/mimetypes",  # all of urn:ietf:bcp:13
        "http://hl7.org/fhir/ValueSet/ucum-units",  # all of UCUM
        "http://hl7.org/fhir/ValueSet/all-languages",  # all of BCP-47
        "http://hl7.org/fhir/ValueSet/doc-typecodes",  # LOINC filter SCALE_TYP = Doc
        "http://hl7.org/fhir/ValueSet/example-filter",  # filter on a property the code system lacks
    ],
)
def test_external_or_unevaluable_value_sets_are_unknown(url: str) -> None:
    assert terminology.expand(url) is None
    assert terminology.validate_code(url, None, "anything") is None


def test_enumerated_concepts_of_an_external_system_are_expandable() -> None:
    # valueset-languages.html lists BCP-47 codes explicitly, e.g. en-US "English (United States)"
    codes = terminology.expand("http://hl7.org/fhir/ValueSet/languages")
    assert codes is not None
    assert ("urn:ietf:bcp:47", "en-US") in codes
    assert ("urn:ietf:bcp:47", "xx-XX") not in codes


def test_descendent_of_filter() -> None:
    # valueset-inactive.html: v3 ActMood, descendent-of _ActMoodPredicate; the v3-ActMood hierarchy:
    # _ActMoodPredicate > CRT (> EVN.CRT, GOL.CRT, INT.CRT (> PRMS.CRT, RQO.CRT), RSK.CRT),
    #                     EXPEC (> GOL, RSK), OPT
    expected = {"CRT", "EVN.CRT", "GOL.CRT", "INT.CRT", "PRMS.CRT", "RQO.CRT", "RSK.CRT",
                "EXPEC", "GOL", "RSK", "OPT"}
    codes = terminology.expand("http://hl7.org/fhir/ValueSet/inactive")
    assert codes == frozenset((ACT_MOOD, c) for c in expected)


def test_is_not_a_filter() -> None:
    # valueset-patient-contactrelationship.html: v2 table 0131 except O (Other)
    expected = {"BP", "CP", "EP", "PR", "E", "C", "F", "I", "N", "S", "U"}
    assert terminology.expand("http://hl7.org/fhir/ValueSet/patient-contactrelationship") == frozenset(
        (V2_0131, c) for c in expected
    )


def test_validate_code() -> None:
    url = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert terminology.validate_code(url, None, "male") is True
    assert terminology.validate_code(url, GENDER, "male") is True
    assert terminology.validate_code(url, "http://example.org/other-system", "male") is False
    assert terminology.validate_code(url, None, "xyz") is False
    assert terminology.validate_code(url, None, "Male") is False  # the code system is case sensitive


def test_descendants_from_nesting() -> None:
    # v3-ActMood: INT > _ActMoodDesire > (_ActMoodActRequest > ARQ, PERMRQ, RQO), (PRP > RMD);
    #             INT > PRMS > APT
    assert terminology.descendants(ACT_MOOD, "INT") == {
        "_ActMoodDesire", "_ActMoodActRequest", "ARQ", "PERMRQ", "RQO", "PRP", "RMD", "PRMS", "APT",
    }
    assert terminology.descendants(ACT_MOOD, "APT") == set()
    assert terminology.descendants("http://example.org/unknown", "x") == set()


def test_descendants_from_child_property() -> None:
    # v3-ActReason: _PatientProfileQueryReasonCode nests ADMREV, PATCAR, PATREQ, PRCREV, REGUL, RSRCH,
    # VALIDATION and also names LEGAL as a child (a second parent of LEGAL)
    below = terminology.descendants("http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                    "_PatientProfileQueryReasonCode")
    assert {"ADMREV", "LEGAL", "VALIDATION"} <= below


def test_subsumes() -> None:
    assert terminology.subsumes(ACT_MOOD, "INT", "RQO") == "subsumes"
    assert terminology.subsumes(ACT_MOOD, "RQO", "INT") == "subsumed-by"
    assert terminology.subsumes(ACT_MOOD, "RQO", "RQO") == "equivalent"
    assert terminology.subsumes(ACT_MOOD, "EVN", "RQO") == "not-subsumed"
    assert terminology.subsumes(ACT_MOOD, "EVN", "nope") is None


def test_lookup() -> None:
    concept = terminology.lookup(GENDER, "female")
    assert concept is not None and concept.display == "Female"
    assert terminology.lookup(GENDER, "nope") is None


# compose semantics on hand-written value sets (valueset.html#compositions)

LOCAL: dict[str, dict[str, Any]] = {
    "urn:test:genders-but-other": {
        "resourceType": "ValueSet",
        "compose": {
            "include": [{"valueSet": ["http://hl7.org/fhir/ValueSet/administrative-gender"]}],
            "exclude": [{"system": GENDER, "concept": [{"code": "other"}]}],
        },
    },
    "urn:test:intersection": {  # system + valueSet in one include: the intersection
        "resourceType": "ValueSet",
        "compose": {"include": [{"system": GENDER, "concept": [{"code": "male"}, {"code": "unknown"}],
                                 "valueSet": ["urn:test:genders-but-other"]}]},
    },
    "urn:test:cycle-a": {"resourceType": "ValueSet",
                         "compose": {"include": [{"valueSet": ["urn:test:cycle-b"]}]}},
    "urn:test:cycle-b": {"resourceType": "ValueSet",
                         "compose": {"include": [{"valueSet": ["urn:test:cycle-a"]}]}},
    "urn:test:external-import": {
        "resourceType": "ValueSet",
        "compose": {"include": [{"valueSet": ["http://hl7.org/fhir/ValueSet/currencies"]}]},
    },
}


@pytest.fixture
def local_value_sets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = valueset.value_set
    monkeypatch.setattr(valueset, "value_set", lambda url: LOCAL.get(url) or real(url))
    valueset.expand.cache_clear()
    valueset.expand_codes.cache_clear()
    yield
    valueset.expand.cache_clear()
    valueset.expand_codes.cache_clear()


@pytest.mark.usefixtures("local_value_sets")
def test_import_and_exclude() -> None:
    assert valueset.expand("urn:test:genders-but-other") == frozenset(
        {(GENDER, "male"), (GENDER, "female"), (GENDER, "unknown")}
    )
    assert valueset.expand("urn:test:intersection") == frozenset({(GENDER, "male"), (GENDER, "unknown")})


@pytest.mark.usefixtures("local_value_sets")
def test_cycles_and_unexpandable_imports_are_unknown() -> None:
    assert valueset.expand("urn:test:cycle-a") is None
    assert valueset.expand("urn:test:external-import") is None
