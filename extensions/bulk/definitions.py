"""OperationDefinitions of the Bulk Data IG 2.0 (https://hl7.org/fhir/uv/bulkdata/STU2/OperationDefinition-export.html,
-patient-export, -group-export) as this server runs them, and of its NDJSON ``$import``.

The CapabilityStatement names these canonicals; the kick-off handlers accept exactly these ``in``
parameters (anything else is a 400, or left out under ``Prefer: handling=lenient``).
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
IG = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
EXPORT_PARAMS = ("_outputFormat", "_since", "_type", "_typeFilter", "_elements", "patient", "includeAssociatedData")
IMPORT_PARAMS = ("inputFormat", "inputSource", "storageDetail", "input")


def _p(name: str, lo: int, hi: str, type_: str, doc: str) -> Json:
    return {"name": name, "use": "in", "min": lo, "max": hi, "type": type_, "documentation": doc}


_COMMON = [
    _p("_outputFormat", 0, "1", "string", "application/fhir+ndjson (also application/ndjson, ndjson): the only format"),
    _p("_since", 0, "1", "instant", "Only resources changed after this instant"),
    _p("_type", 0, "*", "string", "Comma-separated resource types to export (others are left out)"),
    _p("_typeFilter", 0, "*", "string", "Comma-separated FHIR search queries ([type]?[params]); several for one "
       "type are OR-ed; search result parameters (_include, _sort, ...) are refused"),
]
_PATIENT = _p("patient", 0, "*", "Reference", "POST only: limit the export to these patients (of the group)")
_NOTE = ("The files hold what the caller's access token may search: a patient-scoped token gets that patient's "
         "compartment only, and a _type the token does not cover is refused (403). Files are NDJSON parts kept "
         "in PostgreSQL, served to the client that asked, with its access token.")


def _export(op_id: str, title: str, resource: list[str], system: bool, type_: bool, instance: bool,
            extra: list[Json], description: str) -> Json:
    return {
        "resourceType": "OperationDefinition", "id": op_id, "url": IG + op_id, "version": "2.0.0",
        "name": title.replace(" ", ""), "title": title, "status": "active", "kind": "operation",
        "description": f"{description} {_NOTE}", "affectsState": False, "code": "export",
        "resource": resource, "system": system, "type": type_, "instance": instance,
        "parameter": _COMMON + extra,
    }


SYSTEM_EXPORT = _export("export", "FHIR Bulk Data System Level Export", [], True, False, False, [],
                        "Every resource of the requested (or all) types, in NDJSON files, asynchronously.")
PATIENT_EXPORT = _export("patient-export", "FHIR Bulk Data Patient Level Export", ["Patient"], False, True, False,
                         [_PATIENT], "The Patient resources and their Patient compartments.")
GROUP_EXPORT = _export("group-export", "FHIR Bulk Data Group Export", ["Group"], False, False, True, [_PATIENT],
                       "The Patient members of the Group (inactive members left out) and their compartments.")

IMPORT: Json = {
    "resourceType": "OperationDefinition", "id": "import", "url": "urn:fhir-server:OperationDefinition:import",
    "version": "1", "name": "BulkImport", "title": "Bulk import of NDJSON", "status": "active", "kind": "operation",
    "description": (
        "Asynchronous import of NDJSON files, fetched from the input URLs (a Parameters body) or uploaded as the "
        "request body (Content-Type application/fhir+ndjson). Every line is validated, indexed and written like "
        "an update (a line with an id keeps it; one without gets a new id); lines that fail are reported one "
        "OperationOutcome each in the manifest's error file, the others are written. Needs create and update "
        "scopes on the types without a patient or query restriction (e.g. system/*.cu)."),
    "affectsState": True, "code": "import", "resource": [], "system": True, "type": False, "instance": False,
    "parameter": [
        _p("inputFormat", 0, "1", "code", "application/fhir+ndjson (the only format)"),
        _p("inputSource", 0, "1", "uri", "Where the data comes from (informational)"),
        {"name": "storageDetail", "use": "in", "min": 0, "max": "1", "documentation": "type: https or http",
         "part": [_p("type", 0, "1", "code", "https or http")]},
        {"name": "input", "use": "in", "min": 1, "max": "*", "documentation": "One NDJSON file to import",
         "part": [_p("type", 0, "1", "code", "The resource type every line must have"),
                  _p("url", 1, "1", "uri", "Where to GET it (http or https)")]},
    ],
}
