"""Small assertion helpers shared by the tests."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def assert_outcome(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an OperationOutcome with this status (and issue code)."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/fhir+json"), resp.headers
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"], body
    if code is not None:
        assert any(i["code"] == code for i in body["issue"]), body
    return body


def patient(family: str | None = None, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"family": family or "Test" + uuid.uuid4().hex[:8], "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "1970-01-01",
    }
    res.update(extra)
    return res


def unique_identifier() -> dict[str, str]:
    return {"system": "urn:test:mrn", "value": uuid.uuid4().hex}


def wait_until_up(url: str, proc: subprocess.Popen[Any], timeout: float = 120, message: str = "serve did not start",
                  detail: Callable[[], str] | None = None, pause: float = 0.3) -> None:
    """Poll ``url`` until it answers 200; fail when ``proc`` (the server process) exits or ``timeout`` passes."""
    deadline = time.time() + timeout
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.time() < deadline and proc.poll() is None, message + (detail() if detail else "")
        time.sleep(pause)
