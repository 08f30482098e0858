"""``fhir-conformance``: run the conformance suites and TestScripts against a FHIR base URL, or measure
agreement with HL7's reference validator over its test cases.

    fhir-conformance run --base URL [--token T | --client-id ID --private-key PEM [--scope S]]
                         [--suite rest,search,...] [--testscript FILE ...] [--junit F] [--html F]
    fhir-conformance hl7-cases [--dir validator-folder | --pack file.json.gz] [--pack-to file.json.gz]

Exit status: 0 when nothing failed, 1 when a check failed or errored, 2 on a usage or auth error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from conformance import hl7
from conformance.runner import report as reports
from conformance.runner.auth import AuthError, backend_token, load_key
from conformance.runner.client import Fhir
from conformance.runner.results import Report
from conformance.runner.scenarios import Run, capabilities, rest, search, smart, transactions
from conformance.runner.testscript import run_script

SUITES: dict[str, Callable[[Run], None]] = {
    "capabilities": capabilities.suite,
    "rest": rest.suite,
    "search": search.suite,
    "transactions": transactions.suite,
    "smart": smart.suite,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fhir-conformance", description=__doc__.split("\n\n")[0].replace("``", ""),
                                epilog=__doc__.split("\n\n")[-1].strip())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser(
        "run", help="test a FHIR server",
        description="Run the conformance suites (all by default) and any TestScripts against a FHIR server, "
        "print a summary, and optionally write JUnit XML and an HTML report. Authenticate with a ready "
        "--token, or as a SMART Backend Services client (--client-id, --private-key).")
    r.add_argument("--base", required=True, help="the FHIR base URL")
    auth = r.add_mutually_exclusive_group()
    auth.add_argument("--token", help="a Bearer access token")
    auth.add_argument("--client-id", help="a SMART backend client id (with --private-key)")
    r.add_argument("--private-key", type=Path, help="PEM RSA key of the backend client (RS384)")
    r.add_argument("--kid", help="the key id to put in the assertion's header")
    r.add_argument("--scope", default="system/*.cruds",
                   help="scopes to ask for (backend services; default system/*.cruds)")
    r.add_argument("--suite", default=",".join(SUITES), help=f"comma-separated: {', '.join(SUITES)} (default: all)")
    r.add_argument("--testscript", type=Path, action="append", default=[],
                   help="a TestScript (JSON) to run (repeatable)")
    r.add_argument("--junit", type=Path, help="write JUnit XML here")
    r.add_argument("--html", type=Path, help="write the HTML report here")
    h = sub.add_parser(
        "hl7-cases", help="agreement with HL7's reference validator",
        description="Validate the test cases of HL7's reference validator (a folder with its manifest, or a "
        "packed file) with this server's validator; report where both agree (per step and per case) and "
        "each step where they do not.")
    h.add_argument("--dir", type=Path, help="a validator test-case folder with its manifest")
    h.add_argument("--pack", type=Path, help="a packed case file (conformance.hl7.pack)")
    h.add_argument("--pack-to", type=Path, help="write the cases read from --dir to this packed file")
    return p


def _token(args: argparse.Namespace) -> str | None:
    if args.client_id:
        if args.private_key is None:
            raise AuthError("--client-id needs --private-key")
        with httpx.Client(timeout=30) as http:
            return backend_token(http, args.base, args.client_id, load_key(args.private_key), args.scope, args.kid)
    return str(args.token) if args.token else None


def run(args: argparse.Namespace, out: Any) -> int:
    names = [s.strip() for s in args.suite.split(",") if s.strip()]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown suite(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        token = _token(args)
    except (AuthError, httpx.HTTPError) as exc:
        print(f"authorization failed: {exc}", file=sys.stderr)
        return 2
    fhir = Fhir(args.base, token)
    report = Report(args.base)
    session = Run(fhir, report)
    try:
        for name in names:
            SUITES[name](session)
        for path in args.testscript:
            script = orjson.loads(path.read_bytes())
            run_script(script, fhir, report, _given(path.parent))
    finally:
        session.cleanup()
        fhir.close()
    print(reports.console(report), file=out)
    if args.junit:
        args.junit.write_bytes(reports.junit(report))
    if args.html:
        args.html.write_text(reports.html_page(report), encoding="utf-8")
    return 0 if report.ok else 1


def _given(folder: Path) -> dict[str, Any]:
    """Fixture files next to a TestScript, by the relative reference a fixture would use."""
    out: dict[str, Any] = {}
    for f in folder.glob("*.json"):
        try:
            out[f.name] = orjson.loads(f.read_bytes())
        except orjson.JSONDecodeError:
            continue
    return out


def hl7_cases(args: argparse.Namespace, out: Any) -> int:
    if args.dir is None and args.pack is None:
        print("give --dir or --pack", file=sys.stderr)
        return 2
    cases = hl7.load_dir(args.dir) if args.dir else hl7.load_pack(args.pack)
    if args.pack_to:
        hl7.pack(cases, args.pack_to)
    steps = hl7.run(cases)
    agree = sum(s.agrees for s in steps)
    for s in steps:
        if not s.agrees:
            print(f"DISAGREE {s.key}: Java {s.expected} error(s), here {s.found}", file=out)
    cases_ok, n_cases = hl7.case_agreement(steps)
    print(
        f"agreement: {agree}/{len(steps)} steps ({100 * agree / max(len(steps), 1):.1f} %), "
        f"{cases_ok}/{n_cases} cases ({100 * cases_ok / max(n_cases, 1):.1f} %), "
        f"exact error count {sum(s.expected == s.found for s in steps)}/{len(steps)}",
        file=out,
    )
    return 0


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    args = parser().parse_args(argv)
    stream = out or sys.stdout
    return run(args, stream) if args.command == "run" else hl7_cases(args, stream)


if __name__ == "__main__":
    sys.exit(main())
