"""CapabilityStatement accuracy (http://hl7.org/fhir/R4/capabilitystatement.html): does the server do
what its statement claims? Every resource type claiming ``search-type`` is searched, every search
parameter claimed for the commonly used types is tried with a value of its type, and every claimed
system, type and instance operation must exist: asked with GET only, so that nothing changes, a 400
(parameters missing) or 405 (POST only) is fine, a 404 is not. Instance operations are tried on an
existing resource of the type; when there is none, they can't be checked."""

from __future__ import annotations

from conformance.runner.client import Fhir, json_of
from conformance.runner.results import Failed, Skipped, require, run_checks
from conformance.runner.scenarios import Json, Run
from fhir_server import definitions

BASE = "http://hl7.org/fhir/CapabilityStatement/base"
SAMPLE_TYPES = ("Patient", "Observation", "Encounter", "Condition", "Practitioner", "Organization")
SAMPLE_VALUES = {
    "string": "x",
    "token": "x",
    "date": "2000",
    "reference": "Patient/x",
    "number": "1",
    "quantity": "1",
    "uri": "http://example.org/x",
}


def _base_statement() -> Json:
    """R4's base server statement (every resource type, every interaction), as published in R4."""
    found = definitions.by_canonical(BASE)
    return found if found is not None else {}


def _rest(cs: Json) -> Json:
    rest = [r for r in cs.get("rest") or () if r.get("mode") == "server"]
    if not rest:
        raise Failed("the CapabilityStatement has no rest entry with mode 'server'")
    first: Json = rest[0]
    return first


def _exists(f: Fhir, path: str) -> bool:
    """GET only (never a change): 404/501 mean "no such operation"; 400 (parameters) or 405 (POST only) do not."""
    return f.get(path).status_code not in (404, 501)


def _some_id(f: Fhir, res_type: str) -> str | None:
    entries = json_of(f.get(res_type, params={"_count": "1", "_elements": "id"})).get("entry") or []
    rid = (entries[0].get("resource") or {}).get("id") if entries else None
    return str(rid) if rid else None


def suite(run: Run) -> None:
    f = run.fhir

    def statement() -> None:
        resp = f.get("metadata")
        require(resp.status_code == 200, f"GET [base]/metadata answered {resp.status_code}")
        cs = run.statement()
        require(cs.get("resourceType") == "CapabilityStatement", "metadata must be a CapabilityStatement")
        require(str(cs.get("fhirVersion", "")).startswith("4.0"), f"fhirVersion is {cs.get('fhirVersion')}, not R4")
        require(cs.get("kind") == "instance", "a server's statement has kind 'instance'")
        require(any("json" in str(x) for x in cs.get("format") or ()), "the statement must list a JSON format")
        _rest(cs)

    def searchable_types() -> None:
        bad = []
        for entry in _rest(run.statement()).get("resource") or ():
            if any(i.get("code") == "search-type" for i in entry.get("interaction") or ()):
                resp = f.get(str(entry.get("type")), params={"_count": "1"})
                if resp.status_code != 200:
                    bad.append(f"{entry.get('type')}: {resp.status_code}")
        require(not bad, f"types claiming search-type that can't be searched: {', '.join(bad[:10])}")

    def search_params() -> None:
        bad, tried = [], 0
        for entry in _rest(run.statement()).get("resource") or ():
            if entry.get("type") not in SAMPLE_TYPES:
                continue
            for p in entry.get("searchParam") or ():
                value = SAMPLE_VALUES.get(str(p.get("type")))
                if value is None:
                    continue
                tried += 1
                resp = f.get(str(entry["type"]), params={str(p.get("name")): value, "_count": "1"})
                if resp.status_code != 200:
                    bad.append(f"{entry['type']}?{p.get('name')}={value}: {resp.status_code}")
        if not tried:
            raise Skipped("the statement claims no search parameters for the sampled types")
        require(not bad, f"{len(bad)} of {tried} claimed search parameters are refused: {'; '.join(bad[:8])}")

    def operations() -> None:
        rest = _rest(run.statement())
        system = [f"${o.get('name')}" for o in rest.get("operation") or ()]
        typed = [
            (str(e.get("type")), str(o.get("name")))
            for e in rest.get("resource") or ()
            for o in e.get("operation") or ()
        ]
        if not system and not typed:
            raise Skipped("the statement claims no operations")
        missing = [p for p in system if not _exists(f, p)]
        unchecked = []
        for res_type, name in typed:
            if _exists(f, f"{res_type}/${name}"):
                continue
            some = _some_id(f, res_type)
            if some is None:
                unchecked.append(f"{res_type}/${name}")
            elif not _exists(f, f"{res_type}/{some}/${name}"):
                missing.append(f"{res_type}/[id]/${name}")
        require(not missing, f"claimed operations that are not there: {', '.join(missing[:10])}")
        if unchecked and len(unchecked) == len(typed) and not system:
            raise Skipped(f"no instances to try the instance operations on: {', '.join(unchecked[:5])}")

    def instantiates() -> None:
        cs = run.statement()
        urls = [u for u in cs.get("instantiates") or () if isinstance(u, str)]
        if BASE not in urls:
            raise Skipped("the statement does not instantiate the R4 base statement")
        rest = _rest(cs)
        claimed = {
            str(e.get("type")): {i.get("code") for i in e.get("interaction") or ()} for e in rest.get("resource") or ()
        }
        system = {i.get("code") for i in rest.get("interaction") or ()}
        base = _rest(_base_statement())
        missing = [str(i.get("code")) for i in base.get("interaction") or () if i.get("code") not in system]
        for entry in base.get("resource") or ():
            need = {str(i.get("code")) for i in entry.get("interaction") or ()}
            gap = need - claimed.get(str(entry.get("type")), set())
            missing += [f"{entry.get('type')}:{code}" for code in sorted(gap)]
        require(not missing, f"instantiates {BASE} but does not claim: {', '.join(missing[:10])}")
        if "search-system" in system:
            resp = f.get("", params={"_count": "1"})
            require(
                resp.status_code == 200,
                f"search-system is claimed, but GET [base]?_count=1 answered {resp.status_code}",
            )

    run_checks(
        run.report,
        "capabilities",
        [
            ("the CapabilityStatement is an R4 server statement", statement),
            ("every type claiming search-type can be searched", searchable_types),
            ("claimed search parameters are accepted", search_params),
            ("claimed operations exist", operations),
            ("an instantiated base statement is honoured", instantiates),
        ],
    )
