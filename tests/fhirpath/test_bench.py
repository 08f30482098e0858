"""The FHIRPath benchmark runs end to end on a small transaction Bundle (figures printed, not checked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bench_fhirpath import main
from tests.fhirpath.hl7_suite import load_input


def test_bench_runs_on_a_small_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resources = [load_input("patient-example.xml"), load_input("observation-example.xml")]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": r} for r in resources]}
    (tmp_path / "b.json").write_text(json.dumps(bundle, default=str))
    assert main([str(tmp_path), "--min-seconds", "0.001", "--fhirpathpy-resources", "2"]) == 0
    out = capsys.readouterr().out
    assert "Patient.name.given" in out
    assert "SearchParameter indexing, ours:" in out
