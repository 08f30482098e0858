"""``fhir-conformance run`` against this server, started by the fixtures (real HTTP, real PostgreSQL)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from conformance.runner.cli import main
from tests.conftest import LiveServer


def test_our_server_passes_every_suite(live: LiveServer, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    junit, page = tmp_path / "report.xml", tmp_path / "report.html"
    status = main(["run", "--base", live.base, "--junit", str(junit), "--html", str(page)])
    text = capsys.readouterr().out
    print(text)
    assert status == 0, text
    root = ET.fromstring(junit.read_bytes())
    assert int(root.get("failures", "-1")) == 0 and int(root.get("errors", "-1")) == 0
    suites = {s.get("name") for s in root.iter("testsuite")}
    assert suites == {"capabilities", "rest", "search", "transactions", "smart"}
    assert "search" in page.read_text() and "<script" not in page.read_text()
