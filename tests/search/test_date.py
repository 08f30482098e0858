"""date parameters (R4 search.html#date, #prefix): the search value and the element are both ranges.

Ranges of the data set (data.py), as [low, high):
  obs-1 [2013-01-14T10:00:00Z, +1 s)        obs-2 [2013-01-14T09:00:00Z, 2013-01-14T11:00:01Z)
  obs-3 [2013-01-01, 2013-02-01)            obs-4 [2013-01-10, ∞) (open end: ongoing)
  obs-5 2013-01-15T01:00:00+05:00 = [2013-01-14T20:00:00Z, +1 s)
  obs-6 [2014-06-01, 2014-06-02)            obs-8 [2015-02-03T00:00:00Z, +1 s)
  obs-9 Timing events [2016-03-01T08:00Z, +1 s) and [2016-03-02T08:00Z, +1 s)   obs-7: no date
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import assert_outcome
from tests.search.conftest import Searcher

WITH_DATE = {"obs-1", "obs-2", "obs-3", "obs-4", "obs-5", "obs-6", "obs-8", "obs-9"}


@pytest.mark.parametrize(("query", "expected"), [
    # eq: the search range contains the element's range (precision matters)
    ("date=2013-01-14", {"obs-1", "obs-2", "obs-5"}),
    ("date=eq2013-01-14", {"obs-1", "obs-2", "obs-5"}),
    ("date=2013-01", {"obs-1", "obs-2", "obs-3", "obs-5"}),
    ("date=2013", {"obs-1", "obs-2", "obs-3", "obs-5"}),
    ("date=2013-01-14T10:00:00Z", {"obs-1"}),
    ("date=2013-01-14T10:00:00.000Z", set()),  # a millisecond is narrower than obs-1's second
    # time zones: obs-5 is on the 14th in UTC, on the 15th in +05:00
    ("date=2013-01-15", set()),
    ("date=2013-01-15T01:00:00%2B05:00", {"obs-5"}),
    ("date=2013-01-14T20:00:00Z", {"obs-5"}),
    ("date=2013-01-14T15:00:00-05:00", {"obs-5"}),
    ("date=2015-02-03T00:00:00", {"obs-8"}),  # no zone in the search: the server's (UTC)
    ("date=ge2013-01-14T21:00:00%2B01:00", {"obs-3", "obs-4", "obs-5", "obs-6", "obs-8", "obs-9"}),
    # gt / lt: the element's range reaches past the end / before the start of the search range
    ("date=gt2013-01-14", {"obs-3", "obs-4", "obs-6", "obs-8", "obs-9"}),
    ("date=lt2013-01-14", {"obs-3", "obs-4"}),
    # ge / le: gt / lt, or eq
    ("date=ge2013-01-14", WITH_DATE),
    ("date=le2013-01-14", {"obs-1", "obs-2", "obs-3", "obs-4", "obs-5"}),
    # sa / eb: starts after the end / ends before the start
    ("date=sa2013-01-14", {"obs-6", "obs-8", "obs-9"}),
    ("date=eb2013-01-14", set()),
    ("date=eb2013-02-01", {"obs-1", "obs-2", "obs-3", "obs-5"}),
    # ne: the search range does not contain the element's range
    ("date=ne2013-01-14", {"obs-3", "obs-4", "obs-6", "obs-8", "obs-9"}),
    # an open-ended Period is ongoing
    ("date=ge2030-01-01", {"obs-4"}),
    ("date=gt2030", {"obs-4"}),
    ("date=2030", set()),
    # Timing: each event is a value
    ("date=2016-03-02", {"obs-9"}),
    ("date=2016-03-03", set()),
    ("date=2016-03", {"obs-9"}),
    # comma = OR, repetition = AND
    ("date=2013-01-14T10:00:00Z,2014-06-01", {"obs-1", "obs-6"}),
    ("date=ge2013-01-14&date=lt2013-01-15", {"obs-1", "obs-2", "obs-3", "obs-4", "obs-5"}),
    ("date:missing=true", {"obs-7"}),
])
def test_observation_date(s: Searcher, query: str, expected: set[str]) -> None:
    assert s.ids(f"/Observation?{query}") == expected


@pytest.mark.parametrize(("query", "expected"), [
    # birthDate 1970-01 is a month: 1970-01-15 does not contain it, 1970-01 contains all three
    ("birthdate=1970-01-15", {"pat-1", "pat-4"}),
    ("birthdate=1970-01", {"pat-1", "pat-2", "pat-4"}),
    ("birthdate=1970", {"pat-1", "pat-2", "pat-4"}),
    ("birthdate=lt1970-01-15", {"pat-2"}),
    ("birthdate=gt1970-01-15", {"pat-2", "pat-3"}),
    ("birthdate=ge1980", {"pat-3"}),
    ("birthdate:missing=true", {"pat-5", "pat-6"}),
    ("death-date=2020-03-01", {"pat-4"}),  # 10:00 +02:00 is 08:00 UTC, still on the 1st
    ("death-date=2020-03-01T08:00:00Z", {"pat-4"}),
])
def test_patient_dates(s: Searcher, query: str, expected: set[str]) -> None:
    assert s.ids(f"/Patient?{query}") == expected


def test_period_elements(s: Searcher) -> None:
    # enc-1 [2013-01-01, 2013-01-06), enc-2 [2014-05-01, ∞), enc-3 [2015-01-01T10:00Z, 11:00:01Z)
    assert s.ids("/Encounter?date=2013-01") == {"enc-1"}
    assert s.ids("/Encounter?date=2013-01-03") == set()  # the Period is wider than the day
    assert s.ids("/Encounter?date=ge2020-01-01") == {"enc-2"}
    assert s.ids("/Encounter?date=le2014-06-01") == {"enc-1", "enc-2"}
    assert s.ids("/Encounter?date=2015-01-01") == {"enc-3"}
    assert s.ids("/Encounter?date=2015-01-01T10:30:00Z") == set()


def test_approximately(s: Searcher) -> None:
    # ap: the ranges overlap once the search range is widened by 10 % of its distance from now
    now = datetime.now(UTC)
    low, high = datetime(2014, 6, 1, tzinfo=UTC), datetime(2014, 6, 2, tzinfo=UTC)
    widen = max(now - low, now - high) / 10
    ranges = {"obs-1": (datetime(2013, 1, 14, 10, tzinfo=UTC), timedelta(seconds=1)),
              "obs-3": (datetime(2013, 1, 1, tzinfo=UTC), timedelta(days=31)),
              "obs-2": (datetime(2013, 1, 14, 9, tzinfo=UTC), timedelta(hours=2, seconds=1)),
              "obs-4": (datetime(2013, 1, 10, tzinfo=UTC), timedelta(days=365 * 900)),
              "obs-5": (datetime(2013, 1, 14, 20, tzinfo=UTC), timedelta(seconds=1)),
              "obs-6": (datetime(2014, 6, 1, tzinfo=UTC), timedelta(days=1)),
              "obs-8": (datetime(2015, 2, 3, tzinfo=UTC), timedelta(seconds=1)),
              "obs-9": (datetime(2016, 3, 1, 8, tzinfo=UTC), timedelta(days=1, seconds=1))}
    expected = {k for k, (lo, span) in ranges.items() if lo < high + widen and lo + span > low - widen}
    assert {"obs-4", "obs-6", "obs-8"} <= expected  # whatever today is
    assert s.ids("/Observation?date=ap2014-06-01") == expected


@pytest.mark.parametrize("value", [
    "2013-13", "2013-02-30", "2013-01-14T25:00:00Z", "xx2013", "gt", "2013-1-1", "13", "2013-01-14T10:00:00%2B99:00",
    "0001-01-01T00:00:00%2B05:00", "99999", "ap0000", "9999-12-31", "2013-01-14T10:00:00Zjunk",
])
def test_bad_dates_are_400(s: Searcher, value: str) -> None:
    assert_outcome(s.get(f"/Observation?date={value}"), 400, "invalid")


def test_extreme_but_valid_dates(s: Searcher) -> None:
    assert s.ids("/Observation?date=ap0001") == set()
    assert s.ids("/Observation?date=lt0001-01-02") == set()
    assert s.ids("/Observation?date=gt9999-12-30") == {"obs-4"}
