"""Reports of a run: a console summary, JUnit XML (the de-facto schema CI systems read), and one
self-contained HTML page (inline CSS, no scripts, no external resources)."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from conformance.runner.results import Report

MARK = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skip": "SKIP"}


def console(report: Report) -> str:
    lines = [f"FHIR conformance run against {report.base}"]
    for suite, checks in report.suites().items():
        lines.append(f"\n{suite}")
        for c in checks:
            extra = f" — {c.message}" if c.message else ""
            lines.append(f"  [{MARK[c.status]:5}] {c.name}{extra}")
    n = report.counts()
    lines.append(
        f"\n{len(report.checks)} checks: {n['pass']} passed, {n['fail']} failed, "
        f"{n['error']} errors, {n['skip']} skipped"
    )
    return "\n".join(lines)


def junit(report: Report) -> bytes:
    n = report.counts()
    root = ET.Element(
        "testsuites",
        name="fhir-conformance",
        tests=str(len(report.checks)),
        failures=str(n["fail"]),
        errors=str(n["error"]),
        skipped=str(n["skip"]),
    )
    for suite, checks in report.suites().items():
        counts = {s: sum(c.status == s for c in checks) for s in MARK}
        el = ET.SubElement(
            root,
            "testsuite",
            name=suite,
            tests=str(len(checks)),
            failures=str(counts["fail"]),
            errors=str(counts["error"]),
            skipped=str(counts["skip"]),
            time=f"{sum(c.seconds for c in checks):.3f}",
        )
        for c in checks:
            case = ET.SubElement(el, "testcase", classname=suite, name=c.name, time=f"{c.seconds:.3f}")
            if c.status == "fail":
                ET.SubElement(case, "failure", message=c.message).text = c.message
            elif c.status == "error":
                ET.SubElement(case, "error", message=c.message).text = c.message
            elif c.status == "skip":
                ET.SubElement(case, "skipped", message=c.message)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}
.pass{color:#176f2c}.fail{color:#b00020;font-weight:bold}.error{color:#8a4b00;font-weight:bold}.skip{color:#666}
.summary span{margin-right:1.5em}"""


def html_page(report: Report) -> str:
    n = report.counts()
    esc = html.escape
    rows = []
    for suite, checks in report.suites().items():
        rows.append(f'<tr><th colspan="3">{esc(suite)}</th></tr>')
        rows += [
            f'<tr><td class="{c.status}">{MARK[c.status]}</td><td>{esc(c.name)}</td><td>{esc(c.message)}</td></tr>'
            for c in checks
        ]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>FHIR conformance: {esc(report.base)}</title>'
        f"<style>{_CSS}</style></head><body><h1>FHIR conformance</h1><p>{esc(report.base)} — {when}</p>"
        f'<p class="summary"><span class="pass">{n["pass"]} passed</span><span class="fail">{n["fail"]} failed</span>'
        f'<span class="error">{n["error"]} errors</span><span class="skip">{n["skip"]} skipped</span></p>'
        f"<table><tr><th>result</th><th>check</th><th>detail</th></tr>{''.join(rows)}</table></body></html>"
    )
