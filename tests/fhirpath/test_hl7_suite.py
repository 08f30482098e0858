"""The HL7 FHIRPath R4 test suite (tests-fhir-r4.xml): every test, expected values from the suite."""

from __future__ import annotations

import pytest

from tests.fhirpath.hl7_suite import Case, load_cases, run_case

CASES = load_cases()
# Measured: every test of the suite passes. A regression must fail here.
MIN_PASSED = 935


@pytest.mark.parametrize("case", CASES, ids=[f"{c.group}/{c.name}" for c in CASES])
def test_case(case: Case) -> None:
    passed, why = run_case(case)
    assert passed, f"{case.expression!r}: {why}"


def test_suite_pass_rate() -> None:
    assert len(CASES) == 935
    passed = sum(1 for c in CASES if run_case(c)[0])
    assert passed >= MIN_PASSED, f"{passed}/{len(CASES)} passed"
