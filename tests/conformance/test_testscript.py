"""Running a FHIR TestScript (R4 testscript.html) against our server: fixtures, variables, setup,
tests with operations and asserts (response, code, header, resource, FHIRPath), teardown."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

from conformance.runner.cli import main
from conformance.runner.client import Fhir
from conformance.runner.results import Report
from conformance.runner.testscript import run_script
from tests.conftest import LiveServer


def _script(family: str) -> dict[str, Any]:
    return {
        "resourceType": "TestScript",
        "name": "PatientCrud",
        "status": "active",
        "url": "urn:test:script",
        "contained": [{"resourceType": "Patient", "id": "pat", "name": [{"family": family}], "gender": "female"}],
        "fixture": [{"id": "pat-fixture", "autocreate": False, "autodelete": False, "resource": {"reference": "#pat"}}],
        "variable": [
            {"name": "pid", "expression": "Patient.id", "sourceId": "created"},
            {"name": "loc", "headerField": "Location", "sourceId": "created"},
        ],
        "setup": {
            "action": [
                {
                    "operation": {
                        "type": {"code": "create"},
                        "resource": "Patient",
                        "sourceId": "pat-fixture",
                        "responseId": "created",
                        "requestHeader": [{"field": "Prefer", "value": "return=representation"}],
                    }
                },
                {"assert": {"label": "created", "response": "created"}},
            ]
        },
        "test": [
            {
                "name": "read back",
                "action": [
                    {"operation": {"type": {"code": "read"}, "resource": "Patient", "params": "/${pid}"}},
                    {"assert": {"label": "ok", "response": "okay"}},
                    {"assert": {"label": "json", "contentType": "application/fhir+json"}},
                    {"assert": {"label": "type", "resource": "Patient"}},
                    {"assert": {"label": "family", "expression": "Patient.name.family", "value": family}},
                    {"assert": {"label": "etag", "headerField": "ETag", "operator": "notEmpty"}},
                ],
            },
            {
                "name": "search by family",
                "action": [
                    {"operation": {"type": {"code": "search"}, "resource": "Patient", "params": f"?family={family}"}},
                    {"assert": {"label": "one", "expression": "Bundle.entry.count() = 1"}},
                    {"assert": {"label": "codes", "responseCode": "200,201"}},
                ],
            },
            {
                "name": "deliberately wrong",
                "action": [
                    {"operation": {"type": {"code": "read"}, "resource": "Patient", "params": "/${pid}"}},
                    {"assert": {"label": "expects 404", "response": "notFound"}},
                ],
            },
        ],
        "teardown": {
            "action": [{"operation": {"type": {"code": "delete"}, "resource": "Patient", "params": "/${pid}"}}]
        },
    }


def test_testscript_runs_and_reports_each_test(live: LiveServer) -> None:
    family = "Script" + uuid.uuid4().hex[:8]
    report = Report(live.base)
    fhir = Fhir(live.base)
    try:
        run_script(_script(family), fhir, report)
        statuses = {c.name: c.status for c in report.checks}
        assert statuses == {
            "read back": "pass",
            "search by family": "pass",
            "deliberately wrong": "fail",
            "teardown": "pass",
        }
        gone = fhir.get("Patient", params={"family": family}).json()
        assert not gone.get("entry")  # teardown deleted it
    finally:
        fhir.close()


def test_testscript_from_the_cli(live: LiveServer, tmp_path: Path) -> None:
    script = _script("Cli" + uuid.uuid4().hex[:8])
    script["test"] = script["test"][:2]
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    out = io.StringIO()
    assert main(["run", "--base", live.base, "--suite", "capabilities", "--testscript", str(path)], out) == 0
    assert "testscript:PatientCrud" in out.getvalue()


def test_a_failing_setup_fails_every_test(live: LiveServer) -> None:
    script = _script("Broken")
    script["setup"]["action"][1]["assert"]["response"] = "gone"
    report = Report(live.base)
    fhir = Fhir(live.base)
    try:
        run_script(script, fhir, report)
    finally:
        fhir.close()
    assert [c.status for c in report.checks if c.name != "teardown"] == ["fail", "fail", "fail"]
    assert all("setup failed" in c.message for c in report.checks if c.name != "teardown")
