"""``fhir-server fhirpath EXPR FILE``: output as JSON, exit code 2 on a bad expression or file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_server.fhirpath.cli import main
from tests.fhirpath.hl7_suite import DATA

PATIENT_XML = DATA / "inputs" / "patient-example.xml"
PATIENT_JSON = DATA / "xml_json" / "patient-example.json"


def test_prints_the_result_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Patient.name.given", str(PATIENT_JSON)]) == 0
    assert json.loads(capsys.readouterr().out) == ["Peter", "James", "Jim", "Peter", "James"]


def test_reads_xml_and_prints_types(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--types", "Patient.birthDate | 1.5", str(PATIENT_XML)]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"type": "date", "value": "1974-12-25"},
        {"type": "System.Decimal", "value": 1.5},
    ]


def test_bad_expression_exits_2_with_the_position(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Patient.name.given +", str(PATIENT_JSON)]) == 2
    err = capsys.readouterr().err
    assert "position 20" in err


def test_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["name", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["name", str(broken)]) == 2


def test_strict_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--strict", "Patient.nam", str(PATIENT_JSON)]) == 2
    assert "nam" in capsys.readouterr().err
