"""string parameters (R4 search.html#string): case- and accent-insensitive starts-with on every part of a
HumanName or Address, ``:exact``, ``:contains``, ``:missing``; comma = OR, repetition = AND."""

from __future__ import annotations

import pytest

from tests.search.conftest import Searcher


@pytest.mark.parametrize(("query", "expected"), [
    # default: starts-with, ignoring case and accents ("Müller" starts with "muller")
    ("family=muller", {"pat-1", "pat-2", "pat-4"}),
    ("family=MÜLLER", {"pat-1", "pat-2", "pat-4"}),
    ("family=mullero", {"pat-4"}),
    ("given=ren", {"pat-1"}),
    ("given=renee", {"pat-1"}),
    ("given=RENÉE", {"pat-1"}),
    # name matches any part: family, given, prefix, text
    ("name=zoe", {"pat-3"}),
    ("name=smith", {"pat-3"}),
    ("name=dr", {"pat-1"}),
    ("name=anne", {"pat-1"}),
    ("name=jones", set()),  # neither "Smith-Jones" nor "Zoë Smith-Jones" starts with it
    # :contains anywhere, :exact the whole string with case and accents
    ("name:contains=jones", {"pat-3"}),
    ("family:contains=LLER", {"pat-1", "pat-2", "pat-4"}),
    ("family:exact=Muller", {"pat-2"}),
    ("family:exact=Müller", {"pat-1"}),
    ("family:exact=muller", set()),
    ("family:exact=Mull", set()),
    # Address: any of line, city, postalCode, state, country
    ("address=paris", {"pat-1", "pat-3"}),
    ("address=75002", {"pat-1"}),
    ("address=rue", set()),  # the line is "12 Rue de la Paix"
    ("address:contains=rue", {"pat-1"}),
    ("address-city=PAR", {"pat-1", "pat-3"}),
    ("address-state=tx", {"pat-3"}),
    ("address-country=fr", {"pat-1"}),
    # LIKE metacharacters are literal
    ("family=abc_", {"pat-5"}),
    ("family=a_c", set()),
    ("family=abc%25", set()),
    ("family=abc_de%25", {"pat-5"}),
    ("family:contains=%25", {"pat-5"}),
    # missing
    ("family:missing=true", {"pat-6"}),
    ("name:missing=true", {"pat-6"}),
    ("family:missing=false", {"pat-1", "pat-2", "pat-3", "pat-4", "pat-5"}),
    # comma = OR, repeated = AND
    ("given=hans,zoe", {"pat-2", "pat-3"}),
    ("family=muller&given=hans", {"pat-2"}),
    ("family=muller&family=mullerova", {"pat-4"}),
])
def test_patient_strings(s: Searcher, query: str, expected: set[str]) -> None:
    assert s.ids(f"/Patient?{query}") == expected


def test_string_on_other_types(s: Searcher) -> None:
    assert s.ids("/Organization?name=acme") == {"org-1"}
    assert s.ids("/Organization?name=health") == set()
    assert s.ids("/Organization?address-city=bost") == {"org-1"}
    assert s.ids("/Practitioner?family=welby") == {"prac-1"}
    assert s.ids("/Observation?value-string=hello") == {"obs-6"}
    assert s.ids("/Observation?value-string:exact=Hello World") == {"obs-6"}
    assert s.ids("/Observation?value-string:exact=hello world") == set()
    assert s.ids("/Location?name=new") == {"loc-3"}


def test_escaped_comma_is_part_of_the_value(s: Searcher) -> None:
    # "muller\,hans" is one value (no family starts with "muller,hans"), not "muller" OR "hans"
    assert s.ids("/Patient?family=muller\\,hans") == set()
    assert s.ids("/Patient?family=muller,hans") == {"pat-1", "pat-2", "pat-4"}
