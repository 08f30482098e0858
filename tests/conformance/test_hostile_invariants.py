"""$validate against a client's profile whose invariants are hostile FHIRPath (a backtracking regex,
out-of-range numbers, unbounded repeat()): each is answered promptly with an OperationOutcome
reporting the invariant, never a 500 or a hang, and the server keeps answering."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.helpers import FHIR_JSON, assert_outcome, patient

# (expression, whether it fails to evaluate: an error issue names the invariant; the overflowing
# ones are empty, N1 §6.6 Math, and this validator counts an empty result as no violation)
HOSTILE = [
    ("name.family.matches('(a|aa)+$').not()", True),
    ("10.power(99999999) > 0", False),
    ("'" + "9" * 5000 + "'.toInteger() > 0", False),
    ("(@2000-01-01 + 9999999999999 days) > @2000-01-01", False),
    ("1.repeat($this + 1).count() > 0", True),
    ("'a'.repeat($this & $this).exists()", True),
    ("'x'.matches('(?:a{65535}){65535}')", True),
    ("(" + "9" * 5000 + " > 0)", True),
]


def _profile(url: str, expression: str) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition", "url": url, "name": "HostilePatient", "status": "draft",
        "kind": "resource", "abstract": False, "type": "Patient", "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "differential": {"element": [{"id": "Patient", "path": "Patient", "constraint": [{
            "key": "hostile-1", "severity": "error", "human": "a hostile rule", "expression": expression,
        }]}]},
    }


@pytest.mark.parametrize(("expression", "fails"), HOSTILE)
def test_hostile_invariant_is_reported_not_fatal(client: httpx.Client, expression: str, fails: bool) -> None:
    url = f"http://example.org/fhir/StructureDefinition/hostile-{uuid.uuid4().hex[:8]}"
    created = client.post("/StructureDefinition", json=_profile(url, expression), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    subject = patient("a" * 60 + "!")
    start = time.monotonic()
    resp = client.post("/Patient/$validate", params={"profile": url}, json=subject, headers=FHIR_JSON, timeout=30)
    assert time.monotonic() - start < 10
    outcome = assert_outcome(resp, 200)
    reported = any("hostile-1" in (i.get("diagnostics") or "") for i in outcome["issue"])
    assert reported == fails, outcome
    assert client.get("/healthz", timeout=5).status_code == 200
