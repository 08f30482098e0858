"""FHIRPath from the command line (http://hl7.org/fhirpath/N1/): ``fhir-server fhirpath EXPR FILE``.

Evaluates EXPR against the resource in FILE (FHIR JSON, or FHIR XML when the name ends in ``.xml``;
``-`` reads JSON from standard input) and prints the result collection as JSON. Exit code 0 on
success, 2 with a message on standard error for a bad expression, file or evaluation.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from fhir_server import fhirpath
from fhir_server.fhirpath.items import Item


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fhir-server fhirpath", description="Evaluate a FHIRPath expression against a FHIR resource."
    )
    p.add_argument("expression", help="the FHIRPath expression, e.g. 'Patient.name.given'")
    p.add_argument("file", help="a FHIR resource in JSON (or XML: *.xml); '-' for JSON on stdin")
    p.add_argument("--strict", action="store_true", help="reject paths that are invalid for the type")
    p.add_argument("--types", action="store_true", help="print each value with its type")
    return p


def _load(name: str) -> dict[str, Any]:
    if name == "-":
        raw = sys.stdin.buffer.read()
    else:
        raw = Path(name).read_bytes()
    if name.endswith(".xml"):
        from fhir_server.formats.xml_in import parse_resource

        return parse_resource(raw)
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the file does not hold a JSON object")
    return data


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        f = float(value)
        return f if Decimal(repr(f)) == value else str(value)
    if isinstance(value, (fhirpath.DateTime, fhirpath.Time)):
        return ("@T" if isinstance(value, fhirpath.Time) else "@") + str(value)
    if isinstance(value, fhirpath.Quantity):
        return {"value": _json_default(value.value), "unit": value.unit}
    raise TypeError(f"cannot print {type(value).__name__}")


def render(items: list[Item], with_types: bool) -> bytes:
    """The result collection as indented JSON."""
    values: list[Any] = [i.value for i in items]
    if with_types:
        values = [{"type": i.type, "value": i.value} for i in items]
    option = orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATACLASS
    return orjson.dumps(values, default=_json_default, option=option)


def main(argv: list[str]) -> int:
    """Run ``fhir-server fhirpath`` with ``argv`` (the arguments after ``fhirpath``); the exit code."""
    args = _parser().parse_args(argv)
    try:
        resource = _load(args.file)
    except (OSError, ValueError, ImportError) as e:
        print(f"fhirpath: cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    try:
        expr = fhirpath.compile(args.expression, resource.get("resourceType"), strict=args.strict)
        items = expr.evaluate_typed(resource)
    except fhirpath.FHIRPathError as e:
        print(f"fhirpath: {e}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(render(items, args.types) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
