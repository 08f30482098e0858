"""ValueSet compose filter ``op = regex`` (R4 valueset.html, filter-operator ``regex``: the code matches
the pattern in full). The pattern comes from a client's ValueSet: it runs time-limited."""

from __future__ import annotations

import time

import pytest

from fhir_server.terminology.valueset import NotExpandable, _regex_filter


def test_codes_matching_in_full() -> None:
    assert _regex_filter("[A-Z]{2}-[0-9]+", ["AB-12", "AB-12x", "ab-1", "ZZ-0"]) == {"AB-12", "ZZ-0"}


def test_backtracking_pattern_is_not_expandable_quickly() -> None:
    codes = ["a" * 60 + "!"] * 20
    start = time.monotonic()
    with pytest.raises(NotExpandable, match="too long"):
        _regex_filter("(a|aa)+", codes)
    assert time.monotonic() - start < 4


@pytest.mark.parametrize("pattern", ["(unclosed", "(?:a{65535}){65535}", "x" * 5000])
def test_invalid_or_huge_patterns_are_not_expandable(pattern: str) -> None:
    with pytest.raises(NotExpandable):
        _regex_filter(pattern, ["x"])
