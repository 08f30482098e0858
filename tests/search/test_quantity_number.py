"""quantity, number and composite parameters (R4 search.html#quantity, #number, #composite).

Quantities of the data set: obs-1 120 mm[Hg], obs-2 72 /min, obs-3 5400 ug, obs-4 5.4 mg, obs-7 98.6
(unit text "degF", no code); obs-5 components 8480-6 140 mm[Hg] and 8462-4 90 mm[Hg].
Decision (documented in types/quantity.py): UCUM units compare in canonical form, so 5400 ug = 5.4 mg.
"""

from __future__ import annotations

import pytest

from tests.helpers import assert_outcome
from tests.search.conftest import Searcher

UCUM = "http://unitsofmeasure.org"


@pytest.mark.parametrize(("query", "expected"), [
    # a number alone: the value, with the precision it is written in (120 means [119.5, 120.5))
    ("value-quantity=120", {"obs-1"}),
    ("value-quantity=119.6", set()),  # [119.55, 119.65)
    ("value-quantity=1.2e2", {"obs-1"}),
    ("value-quantity=gt100", {"obs-1", "obs-3"}),
    ("value-quantity=ge120", {"obs-1", "obs-3"}),
    ("value-quantity=lt6", {"obs-4"}),
    ("value-quantity=le72", {"obs-2", "obs-4"}),
    ("value-quantity=sa100", {"obs-1", "obs-3"}),
    ("value-quantity=eb6", {"obs-4"}),
    ("value-quantity=ne120", {"obs-2", "obs-3", "obs-4", "obs-7"}),
    ("value-quantity=ap72", {"obs-2"}),  # 72 ± 10 %
    # with a unit: system|code; UCUM in canonical form
    (f"value-quantity=120|{UCUM}|mm[Hg]", {"obs-1"}),
    (f"value-quantity=120|{UCUM}|mg", set()),
    (f"value-quantity=5.4|{UCUM}|mg", {"obs-3", "obs-4"}),
    (f"value-quantity=5400|{UCUM}|ug", {"obs-3", "obs-4"}),
    (f"value-quantity=0.0054|{UCUM}|g", {"obs-3", "obs-4"}),
    (f"value-quantity=gt5|{UCUM}|mg", {"obs-3", "obs-4"}),
    (f"value-quantity=gt5.5|{UCUM}|mg", set()),
    (f"value-quantity=lt1|{UCUM}|g", {"obs-3", "obs-4"}),
    (f"value-quantity=72|{UCUM}|/min", {"obs-2"}),
    # value||code matches the code or the unit text
    ("value-quantity=5.4||mg", {"obs-3", "obs-4"}),
    ("value-quantity=98.6||degF", {"obs-7"}),
    ("value-quantity=98.6||Cel", set()),
    # system| only
    (f"value-quantity=gt0|{UCUM}|", {"obs-1", "obs-2", "obs-3", "obs-4"}),
    ("value-quantity:missing=true", {"obs-5", "obs-6", "obs-8", "obs-9"}),
    # component values, and comma = OR
    ("component-value-quantity=gt100", {"obs-5"}),
    ("component-value-quantity=90,120", {"obs-5"}),
    ("value-quantity=72,120", {"obs-1", "obs-2"}),
])
def test_quantity(s: Searcher, query: str, expected: set[str]) -> None:
    assert s.ids(f"/Observation?{query}") == expected


@pytest.mark.parametrize(("query", "expected"), [
    ("code-value-quantity=http://loinc.org|8480-6$gt100", {"obs-1"}),  # obs-5's 8480-6 is a component
    ("code-value-quantity=http://loinc.org|8480-6$gt130", set()),
    ("code-value-quantity=8480-6$120", {"obs-1"}),
    ("code-value-quantity=8480-6$gt5000", {"obs-3"}),
    (f"code-value-quantity=8480-6$5.4|{UCUM}|mg", {"obs-3"}),
    ("combo-code-value-quantity=http://loinc.org|8480-6$gt100", {"obs-1", "obs-5"}),
    ("combo-code-value-quantity=http://loinc.org|8480-6$gt130", {"obs-5"}),
    ("component-code-value-quantity=http://loinc.org|8462-4$lt100", {"obs-5"}),
    # both parts must hold on the same component: 140 belongs to 8480-6, not to 8462-4
    ("component-code-value-quantity=http://loinc.org|8462-4$gt100", set()),
    ("component-code-value-quantity=http://loinc.org|8462-4$lt100,http://loinc.org|8480-6$gt1000", {"obs-5"}),
    ("code-value-concept=http://loinc.org|72166-2$http://snomed.info/sct|266919005", {"obs-8"}),
    ("code-value-concept=http://loinc.org|72166-2$266919005", {"obs-8"}),
    ("code-value-concept=http://loinc.org|72166-2$http://snomed.info/sct|0", set()),
    ("code-value-date=http://loinc.org|8480-6$2013-01-14", set()),  # value[x] is a Quantity, not a date
    ("code-value-string=Free text note$hello", set()),  # the code has no coding, only text
])
def test_composite(s: Searcher, query: str, expected: set[str]) -> None:
    assert s.ids(f"/Observation?{query}") == expected


@pytest.mark.parametrize(("query", "expected"), [
    ("probability=0.25", {"ra-1"}),
    ("probability=0.3", {"ra-1", "ra-2"}),  # 0.3 means [0.25, 0.35)
    ("probability=0.30", {"ra-2"}),  # [0.295, 0.305)
    ("probability=gt0.25", {"ra-2"}),
    ("probability=ge0.25", {"ra-1", "ra-2"}),
    ("probability=lt0.3", {"ra-1"}),
    ("probability=le0.3", {"ra-1", "ra-2"}),
    ("probability=ne0.30", {"ra-1"}),
    ("probability=ap0.3", {"ra-2"}),  # [0.27, 0.33]
    ("probability=25e-2", {"ra-1"}),
    ("probability=0.25,0.30", {"ra-1", "ra-2"}),
    ("probability=gt0.2&probability=lt0.3", {"ra-1"}),
])
def test_number(s: Searcher, query: str, expected: set[str]) -> None:
    assert s.ids(f"/RiskAssessment?{query}") == expected


@pytest.mark.parametrize("query", [
    "value-quantity=abc", "value-quantity=gt", "value-quantity=5|mg", "value-quantity=5|a|b|c",
    "value-quantity=1e999999", "value-quantity=1e-99999", "value-quantity=nan", "value-quantity=Infinity",
    "value-quantity=zz5", "value-quantity=" + "9" * 500, "code-value-quantity=8480-6",
    "code-value-quantity=8480-6$gt100$3", "code-value-quantity=$gt100", "code-value-quantity=8480-6$abc",
    "value-quantity:exact=5",
])
def test_malformed_quantities_are_400(s: Searcher, query: str) -> None:
    assert_outcome(s.get(f"/Observation?{query}"), 400)


def test_malformed_numbers_are_400(s: Searcher) -> None:
    for value in ("0x10", "1,", "1.2.3", "--1", "1e"):
        assert_outcome(s.get(f"/RiskAssessment?probability={value}"), 400)
