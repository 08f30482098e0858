"""OpenAPI 3.0.3 components (https://spec.openapis.org/oas/v3.0.3#components-object) for FHIR R4: schemas, parameters.

Resource schemas come from the R4 model (every JSON property of the type, with JSON types for
primitives); they describe the shape, while the server's validator stays the judge of content.
"""

from __future__ import annotations

from typing import Any

from fhir_server.model import model

Json = dict[str, Any]
FHIR_JSON = "application/fhir+json"
_INTEGERS = frozenset({"integer", "positiveInt", "unsignedInt", "integer64"})


def ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def fhir_content(schema: Json) -> Json:
    return {FHIR_JSON: {"schema": schema}}


def _value_schema(code: str) -> Json:
    if code == "boolean":
        return {"type": "boolean"}
    if code in _INTEGERS:
        return {"type": "integer"}
    if code == "decimal":
        return {"type": "number"}
    if code == "Resource" or model().is_resource(code):
        return ref("schemas", "Resource")
    if model().is_primitive(code) or code.startswith("http://hl7.org/fhirpath/System."):
        return {"type": "string"}
    return {"type": "object"}


def resource_schema(res_type: str) -> Json:
    """A resource type's JSON shape: its properties (choice types expanded), arrays where the element repeats."""
    info = model().type(res_type)
    props: Json = {"resourceType": {"type": "string", "enum": [res_type]}}
    required = ["resourceType"]
    if info is not None:
        for prop, (element, code) in info.props.items():
            value = _value_schema(code)
            props[prop] = {"type": "array", "items": value} if element.is_array else value
            if element.min > 0 and not element.choice:
                required.append(prop)
    return {"type": "object", "description": f"http://hl7.org/fhir/R4/{res_type.lower()}.html",
            "required": required, "properties": props, "additionalProperties": True}


def schemas(types: list[str]) -> Json:
    out: Json = {"Resource": {
        "type": "object", "description": "Any FHIR R4 resource", "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"}}, "additionalProperties": True,
    }}
    for res_type in sorted({*types, "Bundle", "OperationOutcome", "Parameters", "CapabilityStatement"}):
        out[res_type] = resource_schema(res_type)
    out["JsonPatch"] = {"type": "array", "description": "RFC 6902 JSON Patch", "items": {
        "type": "object", "required": ["op", "path"],
        "properties": {"op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
                       "path": {"type": "string"}, "from": {"type": "string"}, "value": {}}}}
    out["Health"] = {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string", "enum": ["pass", "fail", "warn"]}, "checks": {"type": "object"}}}
    return out


def _query(name: str, description: str, schema: Json | None = None) -> Json:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _header(name: str, description: str) -> Json:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": {"type": "string"}}


PARAMETERS: Json = {
    "id": {"name": "id", "in": "path", "required": True, "description": "Logical id of the resource",
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9\\-\\.]{1,64}$"}},
    "vid": {"name": "vid", "in": "path", "required": True, "description": "Version id",
            "schema": {"type": "string"}},
    "_format": _query("_format", "Response format (json, application/fhir+json, xml, application/fhir+xml)"),
    "_pretty": _query("_pretty", "Pretty-print the response", {"type": "boolean"}),
    "_summary": _query("_summary", "Return a summary (true, text, data, count, false)",
                       {"type": "string", "enum": ["true", "text", "data", "count", "false"]}),
    "_elements": _query("_elements", "Comma-separated top-level elements to return"),
    "_count": _query("_count", "Page size", {"type": "integer", "minimum": 0}),
    "_sort": _query("_sort", "Comma-separated sort parameters (prefix - for descending)"),
    "_include": _query("_include", "Resources to include (Type:param[:target]; :iterate)"),
    "_revinclude": _query("_revinclude", "Resources that refer to the matches (Type:param[:target])"),
    "_total": _query("_total", "Whether to count the total (none, estimate, accurate)",
                     {"type": "string", "enum": ["none", "estimate", "accurate"]}),
    "_since": _query("_since", "Only versions changed after this instant", {"type": "string", "format": "date-time"}),
    "_at": _query("_at", "Versions current at this time"),
    "If-Match": _header("If-Match", "Version-aware update: the ETag (W/\"version\") the change is based on"),
    "If-None-Exist": _header("If-None-Exist", "Conditional create: the search that must match nothing"),
    "If-None-Match": _header("If-None-Match", "Conditional read: the ETag the client holds (304 when unchanged)"),
    "Prefer": _header("Prefer", "return=minimal|representation|OperationOutcome; handling=strict|lenient"),
}
READ_PARAMS = [ref("parameters", p) for p in ("_format", "_pretty", "_summary", "_elements")]
SEARCH_RESULT_PARAMS = [ref("parameters", p) for p in ("_count", "_sort", "_include", "_revinclude", "_total")]
HISTORY_PARAMS = [ref("parameters", p) for p in ("_count", "_since", "_at", "_format", "_pretty")]

RESPONSES: Json = {
    "Error": {"description": "An OperationOutcome saying what went wrong",
              "content": fhir_content(ref("schemas", "OperationOutcome"))},
    "Bundle": {"description": "A Bundle", "content": fhir_content(ref("schemas", "Bundle"))},
    "Resource": {"description": "A resource", "content": fhir_content(ref("schemas", "Resource"))},
    "NoContent": {"description": "Done; nothing to return"},
}


def responses(types: list[str]) -> Json:
    """The shared responses, and one per resource type (``#/components/responses/Patient``)."""
    out = dict(RESPONSES)
    for res_type in sorted({*types, "Bundle", "CapabilityStatement", "OperationOutcome", "Parameters"}):
        out[res_type] = {"description": f"A {res_type}", "content": fhir_content(ref("schemas", res_type))}
    return out


def search_parameter(entry: Json) -> Json:
    """A search parameter as a query parameter (its modifiers and prefixes are part of the name or value)."""
    doc = str(entry.get("documentation", "")).strip()
    if doc.startswith("Multiple Resources"):  # a parameter shared by several types documents them all
        doc = ""
    text = f"{entry.get('type', 'string')} search parameter"
    if doc:
        text += f": {doc}"
    if entry.get("definition"):
        text += f" ({entry['definition']})"
    return _query(entry["name"], text)
