"""Parameters on every resource (R4 search.html#all): _lastUpdated at the millisecond precision the server
returns, _tag, _profile, _security, _source (resources of type Basic, used by no other test)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.helpers import FHIR_JSON
from tests.search.conftest import Searcher


def _basic(s: Searcher, meta: dict[str, Any]) -> dict[str, Any]:
    body = {"resourceType": "Basic", "code": {"text": "meta test"}, "meta": meta}
    resp = s.http.post("/Basic", content=orjson.dumps(body), headers=FHIR_JSON)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


@pytest.fixture(scope="module")
def tagged(dataset: Searcher) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    a = _basic(dataset, {"tag": [{"system": "urn:tags", "code": f"red-{run}"}],
                         "profile": [f"http://example.org/StructureDefinition/p-{run}"],
                         "security": [{"system": "urn:sec", "code": f"R-{run}"}], "source": f"urn:src:{run}#1"})
    b = _basic(dataset, {"tag": [{"system": "urn:tags", "code": f"blue-{run}"},
                                 {"system": "urn:other", "code": f"red-{run}"}]})
    return {"run": run, "a": a["id"], "b": b["id"]}


def test_tag_profile_security_source(s: Searcher, tagged: dict[str, str]) -> None:
    run, a, b = tagged["run"], tagged["a"], tagged["b"]
    assert s.ids(f"/Basic?_tag=red-{run}") == {a, b}
    assert s.ids(f"/Basic?_tag=urn:tags|red-{run}") == {a}
    assert s.ids(f"/Basic?_tag=urn:tags|blue-{run},urn:tags|red-{run}") == {a, b}
    assert s.ids(f"/Basic?_tag:not=urn:tags|red-{run}&_id={a},{b}") == {b}
    assert s.ids(f"/Basic?_profile=http://example.org/StructureDefinition/p-{run}") == {a}
    assert s.ids(f"/Basic?_security=urn:sec|R-{run}") == {a}
    assert s.ids(f"/Basic?_source=urn:src:{run}%231") == {a}
    assert s.ids(f"/?_tag=urn:tags|red-{run}") == {a}


def test_last_updated_has_millisecond_precision(s: Searcher, tagged: dict[str, str]) -> None:
    a = tagged["a"]
    stamp = s.get(f"/Basic/{a}").json()["meta"]["lastUpdated"]
    assert len(stamp) == len("2024-05-01T10:20:30.123Z")
    t = datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    def found(prefix: str, when: datetime | str) -> bool:
        text = when if isinstance(when, str) else when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return a in s.ids(f"/Basic?_id={a}&_lastUpdated={prefix}{text}")

    # the instant returned is a range of one millisecond: eq/ge/le include it, gt/lt do not
    assert found("", stamp) and found("eq", stamp) and found("ge", stamp) and found("le", stamp)
    assert not found("gt", stamp) and not found("lt", stamp) and not found("ne", stamp)
    one_ms = timedelta(milliseconds=1)
    assert found("gt", t - one_ms) and not found("gt", t + one_ms)
    assert found("lt", t + one_ms) and not found("lt", t - one_ms)
    assert found("", stamp[:19] + "Z")  # the whole second contains it
    assert found("", stamp[:10])  # and the whole day
    assert not found("", (t + timedelta(days=2)).strftime("%Y-%m-%d"))
    assert found("gt", datetime(2000, 1, 1, tzinfo=UTC)) and not found("lt", datetime(2000, 1, 1, tzinfo=UTC))
