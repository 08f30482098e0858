"""Agreement with HL7's reference validator (https://github.com/FHIR/fhir-test-cases, validator/manifest.json).

Each test case names an input, the conformance resources to load (``supporting``/``profiles``), the
options the Java validator ran with, and its outcome (an OperationOutcome, or an ``errorCount``);
a case may add a profile step (validate again against ``profile.source``) with its own outcome.
:func:`run` validates every step with :mod:`conformance.validation` under the same options (and the
Java validator's default that an unknown extension is an error) and compares the error counts.
A step *agrees* when both find no error or both find at least one; the exact count is reported too.
:func:`pack` stores the cases (inputs, supporting files, expected counts) as one gzipped JSON file.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from conformance.validation import Options, Registry, validate
from fhir_server.errors import BadRequest
from fhir_server.fhir.json import parse_body
from fhir_server.formats.xml_in import FhirXmlError, parse_resource

Json = dict[str, Any]


@dataclass(slots=True)
class Step:
    case: str
    step: str  # base | profile
    expected: int
    found: int
    messages: list[str] = field(default_factory=list)
    number: int = 0  # the case's position in the manifest (two cases may share a name)

    @property
    def agrees(self) -> bool:
        return (self.expected == 0) == (self.found == 0)

    @property
    def key(self) -> str:
        return f"{self.case} [{self.step}]"


@dataclass(slots=True)
class Cases:
    manifest: list[Json]
    files: dict[str, str]  # file name → text
    outcomes: dict[str, int]  # outcome file name → error count


def _errors(outcome: Json) -> int:
    return sum(1 for i in outcome.get("issue") or () if i.get("severity") in ("error", "fatal"))


def expected(spec: Any, outcomes: dict[str, int]) -> int | None:
    """The Java error count of one step: an outcome file, an inline outcome, or an ``errorCount``."""
    if isinstance(spec, str):
        return outcomes.get(spec)
    if isinstance(spec, dict):
        if isinstance(spec.get("errorCount"), int):
            return int(spec["errorCount"])
        if isinstance(spec.get("outcome"), dict):
            return _errors(spec["outcome"])
    return None


def load_dir(directory: Path) -> Cases:
    """The cases of a ``validator`` folder with its ``manifest-r4.json`` (or ``manifest.json``)."""
    manifest_path = directory / "manifest-r4.json"
    if not manifest_path.exists():
        manifest_path = directory / "manifest.json"
    manifest = orjson.loads(manifest_path.read_bytes())["test-cases"]
    files: dict[str, str] = {}
    outcomes: dict[str, int] = {}
    for case in manifest:
        for name in _needed(case):
            path = directory / name
            if path.exists():
                files[name] = path.read_text(encoding="utf-8", errors="replace")
        for spec in (case.get("java"), (case.get("profile") or {}).get("java")):
            if not isinstance(spec, str):
                continue
            out = directory / "outcomes" / spec
            if out.exists():
                outcomes[spec] = _errors(orjson.loads(out.read_bytes()))
    return Cases(manifest, files, outcomes)


def _needed(case: Json) -> list[str]:
    names = [case["file"], *case.get("supporting", []), *case.get("profiles", [])]
    prof = case.get("profile") or {}
    if "source" in prof:
        names += [prof["source"], *prof.get("supporting", [])]
    return names


def pack(cases: Cases, target: Path) -> None:
    data = {"manifest": cases.manifest, "files": cases.files, "outcomes": cases.outcomes}
    target.write_bytes(gzip.compress(orjson.dumps(data), 9))


def load_pack(path: Path) -> Cases:
    data = orjson.loads(gzip.decompress(path.read_bytes()))
    return Cases(data["manifest"], data["files"], data["outcomes"])


def _parse(name: str, text: str) -> Json:
    if name.endswith(".xml"):
        return parse_resource(text.encode("utf-8"))
    data = parse_body(text.encode("utf-8"), name)
    if not isinstance(data, dict):
        raise BadRequest(f"{name} is not a JSON object")
    return data


def _resources(res: Json) -> list[Json]:
    """A conformance resource, or those inside a Bundle."""
    if res.get("resourceType") in ("Bundle",):
        return [
            e["resource"] for e in res.get("entry") or () if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    return [res]


def options(case: Json) -> Options:
    domain = case.get("allowed-extension-domain")
    return Options(
        unknown_extensions="error",
        allow_examples=bool(case.get("examples", True)),
        validate_contained=case.get("validateContains") != "IGNORE",
        markdown_no_html=bool(case.get("noHtmlInMarkdown", False)),
        allowed_extension_domains=(domain,) if isinstance(domain, str) else (),
        resolve_references=str(case.get("validateReference", "")).startswith("CHECK_EXISTS"),
    )


def run_case(case: Json, cases: Cases) -> list[Step]:
    """The steps of one case that have an expected outcome."""
    out: list[Step] = []
    prof = case.get("profile") or {}
    steps = [("base", case.get("java"), [*case.get("supporting", []), *case.get("profiles", [])], None)]
    if "source" in prof:
        steps.append(
            (
                "profile",
                prof.get("java"),
                [*case.get("supporting", []), *case.get("profiles", []), prof["source"], *prof.get("supporting", [])],
                prof["source"],
            )
        )
    for step, spec, support, source in steps:
        want = expected(spec, cases.outcomes)
        if want is None:
            continue
        out.append(_run_step(case, cases, step, want, support, source))
    return out


def _run_step(case: Json, cases: Cases, step: str, want: int, support: list[str], source: str | None) -> Step:
    result = Step(case["name"], step, want, 0)
    registry = Registry()
    loaded: list[Json] = []
    for name in support:
        try:
            loaded += _resources(_parse(name, cases.files[name]))
        except (BadRequest, FhirXmlError, KeyError):
            continue
    registry.replace(loaded)
    try:
        resource = _parse(case["file"], cases.files[case["file"]])
    except (BadRequest, FhirXmlError) as exc:
        result.found, result.messages = 1, [f"not parsed: {exc}"]
        return result
    profiles = _global_profiles(loaded, resource)
    if source is not None:
        url = next(
            (
                r.get("url")
                for r in loaded
                if source in support
                and r.get("resourceType") == "StructureDefinition"
                and _parse(source, cases.files[source]).get("url") == r.get("url")
            ),
            None,
        )
        profiles += [url] if isinstance(url, str) else []
    issues = validate(resource, registry=registry, profiles=profiles, options=options(case))
    errors = [i for i in issues if i.severity in ("error", "fatal")]
    result.found = len(errors)
    result.messages = [f"{i.expression}: {i.message}" for i in errors]
    return result


def _global_profiles(loaded: list[Json], resource: Json) -> list[str]:
    """ImplementationGuide.global: the profile every resource of a type must meet."""
    out: list[str] = []
    for ig in loaded:
        if ig.get("resourceType") != "ImplementationGuide":
            continue
        for g in ig.get("global") or ():
            if (
                isinstance(g, dict)
                and g.get("type") == resource.get("resourceType")
                and isinstance(g.get("profile"), str)
            ):
                out.append(g["profile"])
    return out


def case_agreement(steps: list[Step]) -> tuple[int, int]:
    """(cases whose every step agrees, cases with at least one step)."""
    by_case: dict[int, bool] = {}
    for s in steps:
        by_case[s.number] = by_case.get(s.number, True) and s.agrees
    return sum(by_case.values()), len(by_case)


def run(cases: Cases) -> list[Step]:
    out: list[Step] = []
    for number, case in enumerate(cases.manifest):
        for step in run_case(case, cases):
            step.number = number
            out.append(step)
    return out
