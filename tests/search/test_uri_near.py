"""uri parameters (R4 search.html#uri: exact, :below, :above) and the special ``near`` of Location
(location.html#positional: latitude|longitude|distance|units, a true radius)."""

from __future__ import annotations

import math

import pytest

from tests.helpers import assert_outcome
from tests.search.conftest import Searcher

POSITIONS = {"loc-1": (42.3601, -71.0589), "loc-2": (42.3736, -71.1097), "loc-3": (40.7128, -74.0060),
             "loc-5": (42.4401, -70.9489)}
BOSTON = POSITIONS["loc-1"]


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine, mean Earth radius 6371.0088 km)."""
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


@pytest.mark.parametrize(("query", "expected"), [
    ("url=http://acme.org/fhir/ValueSet/123", {"vs-1"}),
    ("url=http://acme.org/fhir/ValueSet/12", set()),
    ("url:below=http://acme.org/fhir", {"vs-1", "vs-2"}),  # not .../fhirx/...
    ("url:below=http://acme.org/fhir/", {"vs-1", "vs-2"}),
    ("url:below=http://acme.org", {"vs-1", "vs-2", "vs-3", "vs-4"}),
    ("url:above=http://acme.org/fhir/ValueSet/123/_history/5", {"vs-1"}),
    ("url:above=http://acme.org/other/sub/path", {"vs-3"}),
    ("url:above=http://acme.org/fhir", set()),
    ("url=http://acme.org/other,http://acme.org/fhir/ValueSet/124", {"vs-2", "vs-3"}),
])
def test_uri(s: Searcher, query: str, expected: set[str]) -> None:
    assert s.ids(f"/ValueSet?{query}") == expected


def test_near_is_a_true_radius() -> None:
    # the data set's facts, computed independently: loc-5 is inside the 10 km bounding box but not the circle
    assert km(BOSTON, POSITIONS["loc-2"]) < 5
    assert 10 < km(BOSTON, POSITIONS["loc-5"]) < 15
    assert abs(POSITIONS["loc-5"][0] - BOSTON[0]) < 10 / 111.2


@pytest.mark.parametrize(("near", "radius_km"), [
    ("42.3601|-71.0589|10|km", 10.0), ("42.3601|-71.0589|400|km", 400.0), ("42.3601|-71.0589|2|mi", 3.218688),
    ("42.3601|-71.0589|3|[mi_i]", 4.828032), ("42.3601|-71.0589|5000|m", 5.0), ("42.3601|-71.0589|15", 15.0),
])
def test_near(s: Searcher, near: str, radius_km: float) -> None:
    expected = {k for k, pos in POSITIONS.items() if km(BOSTON, pos) <= radius_km}
    body = s.bundle(f"/Location?near={near}")
    found = [e for e in body["entry"] if e["search"]["mode"] == "match"]
    assert {e["resource"]["id"] for e in found} == expected
    # nearest first, with the distance reported in the location-distance extension
    distances = [e["search"]["extension"][0]["valueDistance"]["value"] for e in found]
    assert distances == sorted(distances)
    for e, d in zip(found, distances, strict=True):
        assert abs(d - km(BOSTON, POSITIONS[e["resource"]["id"]])) < 0.01


def test_near_expectations_are_not_trivial() -> None:
    assert {k for k, p in POSITIONS.items() if km(BOSTON, p) <= 10} == {"loc-1", "loc-2"}
    assert {k for k, p in POSITIONS.items() if km(BOSTON, p) <= 3.218688} == {"loc-1"}


def test_near_missing_and_errors(s: Searcher) -> None:
    assert s.ids("/Location?near:missing=true") == {"loc-4"}
    for bad in ("1", "x|y", "91|0|1", "0|181|1", "0|0|-1", "0|0|1|parsec", "0|0|nan", "0|0|inf", "1|2|3|km|5"):
        assert_outcome(s.get(f"/Location?near={bad}"), 400)
