"""Model failures are OperationOutcomes (timeout 504, rate limit 503 + Retry-After, bad key 502); nothing stored."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer
from tests.extensions.ai.fake_openai import FakeOpenAI
from tests.extensions.ai.records import create_record, out
from tests.helpers import FHIR_JSON, assert_outcome

PERSIST = {"resourceType": "Parameters", "parameter": [{"name": "persist", "valueBoolean": True}]}


def _stored(live: LiveServer, pid: str) -> int:
    """Compositions, Provenances and Communications about this patient in the database."""
    rows = live.db.execute(
        "SELECT count(*) FROM resource WHERE res_type IN ('Composition', 'Provenance', 'Communication') "
        "AND content::text LIKE %s", [f"%Patient/{pid}%"])
    return int(rows[0][0])


def _summarize(ai: httpx.Client, pid: str) -> httpx.Response:
    return ai.post(f"/Patient/{pid}/$summarize", json=PERSIST, headers=FHIR_JSON)


def test_timeout_is_504_and_nothing_is_stored(ai: httpx.Client, ai_live: LiveServer,
                                              fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    ai_live.app.state.server.settings.openai_timeout = 0.5
    fake_openai.slow_seconds = 2.0
    fake_openai.script = ["slow", "slow"]  # the first try and the client's one retry
    assert_outcome(_summarize(ai, pid), 504, "timeout")
    assert len(fake_openai.requests) == 2
    assert _stored(ai_live, pid) == 0


def test_rate_limit_is_503_with_retry_after(ai: httpx.Client, ai_live: LiveServer, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    fake_openai.script = ["429", "429"]
    resp = _summarize(ai, pid)
    body = assert_outcome(resp, 503, "transient")
    assert resp.headers["retry-after"] == "7"  # the endpoint's own retry-after, in whole seconds
    assert "req_fake" in body["issue"][0]["diagnostics"]  # the endpoint's request id, for the operator
    assert len(fake_openai.requests) == 2
    assert _stored(ai_live, pid) == 0


def test_one_rate_limit_is_retried_by_the_client(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    fake_openai.script = ["429"]  # then the default answer
    resp = _summarize(ai, pid)
    assert resp.status_code == 200, resp.text
    assert len(fake_openai.requests) == 2


def test_bad_key_is_502(ai: httpx.Client, ai_live: LiveServer, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    ai_live.app.state.server.settings.openai_api_key = "sk-wrong"
    body = assert_outcome(_summarize(ai, pid), 502)
    assert "API key" in body["issue"][0]["diagnostics"] and "sk-" not in body["issue"][0]["diagnostics"]
    assert fake_openai.requests[0]["headers"]["authorization"] == "Bearer sk-wrong"
    assert len(fake_openai.requests) == 1  # a 401 is not retried
    assert _stored(ai_live, pid) == 0


@pytest.mark.parametrize("behaviour", ["quota", "500", "garbage"])
def test_other_endpoint_failures_are_502(ai: httpx.Client, ai_live: LiveServer, fake_openai: FakeOpenAI,
                                         behaviour: str) -> None:
    pid, _ = create_record(ai)
    fake_openai.script = [behaviour]
    assert_outcome(_summarize(ai, pid), 502)
    assert _stored(ai_live, pid) == 0


def test_a_model_answer_that_is_not_the_shape_asked_for_is_502(ai: httpx.Client, fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    fake_openai.answer = lambda body: '{"summary": "no sections here"}'
    assert_outcome(ai.get(f"/Patient/{pid}/$summarize"), 502)
    fake_openai.answer = lambda body: '{"sections": [{"key": "problems", "statements": ["A", 7, null]}]}'
    result = out(ai.get(f"/Patient/{pid}/$summarize").json())
    assert result["statementsWithoutSource"] == 1  # "A" kept, unsourced; 7 and null are not statements


def test_triage_model_failure_records_no_communication(ai: httpx.Client, ai_live: LiveServer,
                                                       fake_openai: FakeOpenAI) -> None:
    pid, _ = create_record(ai)
    symptoms = {"resourceType": "Parameters", "parameter": [{"name": "symptoms", "valueString": "a mild rash"}]}
    fake_openai.script = ["429", "429"]
    assert_outcome(ai.post(f"/Patient/{pid}/$triage", json=symptoms, headers=FHIR_JSON), 503)
    fake_openai.answer = lambda body: '{"careLevel": "whenever", "reasons": []}'
    assert_outcome(ai.post(f"/Patient/{pid}/$triage", json=symptoms, headers=FHIR_JSON), 502)
    assert _stored(ai_live, pid) == 0
