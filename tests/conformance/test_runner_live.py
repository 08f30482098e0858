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


def test_custom_search_parameters_are_claimed_and_checked(fresh: LiveServer, tmp_path: Path) -> None:
    import io

    import httpx

    sp = {"resourceType": "SearchParameter", "url": "http://example.org/sp/patient-nick", "name": "nick",
          "status": "active", "code": "nick", "base": ["Patient"], "type": "string",
          "expression": "Patient.name.given", "description": "given name (test)"}
    with httpx.Client(base_url=fresh.base, timeout=60) as c:
        assert c.post("/SearchParameter", json=sp, headers={"Content-Type": "application/fhir+json"}).status_code == 201
        cs = c.get("/metadata").json()
    patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert "nick" in {p["name"] for p in patient["searchParam"]}
    junit = tmp_path / "caps.xml"
    assert main(["run", "--base", fresh.base, "--suite", "capabilities", "--junit", str(junit)], io.StringIO()) == 0
    root = ET.fromstring(junit.read_bytes())
    assert int(root.get("tests", "0")) == 5 and int(root.get("failures", "1")) == 0
