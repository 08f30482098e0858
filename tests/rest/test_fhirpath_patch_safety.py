"""FHIRPath Patch (R4 fhirpatch.html) with hostile paths and bodies through the real HTTP app: every
one is answered promptly with a 4xx OperationOutcome, nothing is written, and the server stays up."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, assert_outcome, patient


def _pid(client: httpx.Client) -> str:
    return str(client.post("/Patient", json=patient("Hostile"), headers=FHIR_JSON).json()["id"])


def _replace(path: str) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"},
        {"name": "path", "valueString": path},
        {"name": "value", "valueString": "X"},
    ]}]}


def _patch(client: httpx.Client, pid: str, body: Any) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    resp = client.patch(f"/Patient/{pid}", json=body, headers=FHIR_JSON, timeout=30)
    return resp, time.monotonic() - start


def _unchanged(client: httpx.Client, pid: str) -> None:
    assert client.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "1"


def test_catastrophic_regex_in_a_path_is_answered_quickly(client: httpx.Client) -> None:
    """B1: the tester's request (a nested quantifier over 32 a's and a '!'): no hang."""
    pid = _pid(client)
    path = "Patient.name.where('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'.matches('^(a+)+$'))"
    resp, took = _patch(client, pid, _replace(path))
    assert took < 5
    # the string does not match, so the path selects nothing: replace cannot be applied
    assert_outcome(resp, 422)
    # a pattern that does backtrack exponentially under the regex engine too: stopped by the timeout
    path = "Patient.name.where('" + "a" * 60 + "!'.matches('(a|aa)+$'))"
    resp, took = _patch(client, pid, _replace(path))
    assert took < 5
    body = assert_outcome(resp, 422)
    assert "regular expression" in body["issue"][0]["diagnostics"]
    _unchanged(client, pid)
    assert client.get("/healthz", timeout=5).status_code == 200


def test_huge_power_is_empty_not_a_hang(client: httpx.Client) -> None:
    """B2: 10^99999999 is no FHIRPath Integer: the result is empty, so where() keeps nothing."""
    pid = _pid(client)
    resp, took = _patch(client, pid, _replace("Patient.name.where(10.power(99999999) > 0).family"))
    assert took < 5
    assert_outcome(resp, 422)
    resp, took = _patch(client, pid, _replace("Patient.name.where(10.0.power(99999999) > 0).family"))
    assert took < 5
    assert_outcome(resp, 422)
    _unchanged(client, pid)


def test_out_of_range_numbers_and_dates_are_4xx(client: httpx.Client) -> None:
    """B6: a 5,000-digit literal, its toInteger(), and a date pushed past year 9999 were 500s."""
    pid = _pid(client)
    digits = "9" * 5000
    for path, status in (
        (f"Patient.name.where({digits} > 0).family", 400),  # no Integer literal: the path is not FHIRPath
        (f"Patient.name.where('{digits}'.toInteger() > 0).family", 422),  # empty: selects nothing
        ("Patient.name.where((@2000-01-01 + 9999999999999 days) > @2000-01-01).family", 422),  # same
    ):
        resp, took = _patch(client, pid, _replace(path))
        assert took < 5, path
        body = assert_outcome(resp, status)
        if status == 400:
            assert "out of range" in body["issue"][0]["diagnostics"]
    _unchanged(client, pid)


def test_a_path_within_range_still_patches(client: httpx.Client) -> None:
    pid = _pid(client)
    path = "Patient.name.where('2147483647'.toInteger() = 2147483647 and -2147483648 < 0).family"
    resp, _ = _patch(client, pid, _replace(path))
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"][0]["family"] == "X"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": "x"}]}, "part"),
        ({"resourceType": "Parameters", "parameter": "x"}, "parameter"),
        ({"resourceType": "Parameters", "parameter": ["x"]}, "object"),
        ({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": ["x"]}]}, "part"),
        ({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueCode": "replace"}, {"name": "path", "valueInteger": 3}]}]}, "path"),
        ({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "contact"}, {"name": "value", "part": "x"}]}]}, "part"),
        ({"resourceType": "Parameters", "parameter": [{"name": "nonsense"}]}, "operation"),
    ],
)
def test_malformed_fhirpath_patch_parameters_are_400(client: httpx.Client, body: Any, problem: str) -> None:
    """B6: the Parameters resource is checked before use; the OperationOutcome names the problem."""
    pid = _pid(client)
    resp, _ = _patch(client, pid, body)
    outcome = assert_outcome(resp, 400)
    assert problem in outcome["issue"][0]["diagnostics"]
    _unchanged(client, pid)


HOSTILE = [
    "Patient.name.where('" + "a" * 40 + "!'.matches('(a|a)*$'))",
    "Patient.name.where('x'.matchesFull('" + "(" * 3000 + "x" + ")" * 3000 + "'))",
    "Patient.name.where('x'.replaceMatches('(x)', '$9') = 'y')",
    "Patient.name.where('x'.matches('(unclosed'))",
    "Patient.name.where(2147483647 + 1 > 0)",
    "Patient.name.where(2.power(2147483647) > 0)",
    "Patient.name.where(1000000.0.exp() > 0)",
    "Patient.name.where((99999999999999999999999999999.0 * 99999999999999999999999999999.0) > 0)",
    "Patient.name.where(1.0 div 0.0000000000000000000000001 > 0)",
    "Patient.name.where((1.0 mod 0.0000000000000000000000000001) > 0)",
    "Patient.name.where(" + "1" * 400 + ".0.floor() > 0)",
    "Patient.name.where(@2000-01-01 + 99999999999 years > @2000-01-01)",
    "Patient.name.where(@T10:00 - 999999999999999999999999 hours > @T09:00)",
    "Patient.name.where(1.repeat($this + 1).count() > 0)",
    "Patient.name.where('a'.repeat($this & $this).count() > 0)",
    "Patient.name.where((1|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16|17|18|19|20|21|22|23|24|25)"
    ".aggregate($total.combine($total), 1).count() > 0)",
    "Patient.name.where((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10)"
    ".select((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10)"
    ".select((1|2|3|4|5|6|7|8|9|10))))))).count() > 0)",
    "Patient.name.where('ab'.replace('', 'x'.replace('', '" + "y" * 2000 + "')).length() > 0)",
    "Patient.name.where((" * 2000 + "true" + "))" * 2000,
    "Patient.name.where(" + "-" * 5000 + "1 > 0)",
    "Patient.name.where(" + "1 + " * 3000 + "1 > 0)",
    "Patient.name.where('\\u12'.length() > 0)",
    "Patient.name.where(@2000-13-45 > @2000-01-01)",
    "Patient.name.where(1.round(99999999) > 0)",
    "Patient.name.where(1.5.round(-1) > 0)",
    "Patient.name.where(2.log(0) > 0)",
    "Patient.name.where(((0-2147483647)-1).abs() > 0)",
    "Patient.name.where(('x' & 'y').toChars().join('" + "z" * 600000 + "').length() > 0)",
    "Patient.name.where(10 'kg' + 99999999999999999999999999999 'g' > 0 'kg')",
    "Patient.name.where(@2000 + 1 'kg' > @2000)",
    "Patient.name.where('x'.encode('base64').decode('hex') = 'x')",
    "Patient.name.where(%nosuchvariable.exists())",
    "Patient.name[2147483647].family",
    "Patient.name[-1].family",
]


def test_hostile_paths_get_a_prompt_4xx_and_the_server_stays_up(client: httpx.Client) -> None:
    pid = _pid(client)
    for path in HOSTILE:
        resp, took = _patch(client, pid, _replace(path))
        assert took < 5, (path[:120], took)
        assert resp.status_code in (400, 422), (path[:120], resp.status_code, resp.text[:300])
        assert_outcome(resp, resp.status_code)
    _unchanged(client, pid)
    assert client.get("/healthz", timeout=5).status_code == 200


def test_the_server_answers_while_a_slow_path_is_evaluated(live: LiveServer) -> None:
    """A path that works for seconds (until the engine stops it) does not block other requests."""
    big = ("(1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10)"
           ".select((1|2|3|4|5|6|7|8|9|10).select((1|2|3|4|5|6|7|8|9|10).select($this)))))")
    path = f"Patient.name.where({big}{'.sort()' * 60}.count() > 0).family"
    with live.client() as c:
        pid = _pid(c)
        results: list[httpx.Response] = []
        worker = threading.Thread(target=lambda: results.append(_patch(c, pid, _replace(path))[0]))
        worker.start()
        time.sleep(0.3)
        start = time.monotonic()
        with live.client() as other:
            assert other.get("/healthz", timeout=10).status_code == 200
        assert time.monotonic() - start < 1.5
        worker.join(30)
        body = assert_outcome(results[0], 422)
        assert "took longer than" in body["issue"][0]["diagnostics"]


def test_hostile_fhirpath_patch_in_a_transaction(client: httpx.Client) -> None:
    """The same paths as Bundle entries (R4 http.html#transaction: a failing entry fails the Bundle)."""
    pid = _pid(client)

    def tx(parameters: Any) -> httpx.Response:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": parameters, "request": {"method": "PATCH", "url": f"Patient/{pid}"}},
        ]}
        return client.post("/", json=bundle, headers=FHIR_JSON, timeout=30)

    start = time.monotonic()
    assert_outcome(tx(_replace("Patient.name.where('" + "a" * 60 + "!'.matches('(a|aa)+$')).family")), 422)
    assert_outcome(tx(_replace("Patient.name.where(" + "9" * 5000 + " > 0).family")), 400)
    assert_outcome(tx({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": "x"}]}), 400)
    assert time.monotonic() - start < 10
    _unchanged(client, pid)
