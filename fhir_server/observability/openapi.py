"""OpenAPI 3.0.3 description of the FHIR REST API (R4 http.html#summary), generated from the CapabilityStatement.

The CapabilityStatement is already "what the code supports": the resource types, the interactions
the routes serve, the search parameters of the search registry and the operations of the operation
registry. Each becomes an OpenAPI path and operation; operation parameters come from their
OperationDefinitions. The document is built on first request and cached until the search registry
or the operation set changes.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server import FHIR_VERSION, __version__, definitions, operations
from fhir_server.observability.openapi_parts import (
    FHIR_JSON,
    HISTORY_PARAMS,
    PARAMETERS,
    READ_PARAMS,
    RESPONSES,
    SEARCH_RESULT_PARAMS,
    fhir_content,
    ref,
    responses,
    schemas,
    search_parameter,
)

Json = dict[str, Any]
ERROR = {"default": ref("responses", "Error")}
PUBLIC = ("/metadata", "/healthz", "/readyz", "/metrics", "/openapi.json")


def _op(op_id: str, summary: str, tag: str, responses: Json, params: list[Json] | None = None,
        body: Json | None = None) -> Json:
    out: Json = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": {**responses, **ERROR}}
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": True, "content": body}
    return out


def _ok(status: str, what: str, schema: str) -> Json:
    """A response carrying a resource of type ``schema`` (one shared response component per type)."""
    return {status: ref("responses", schema)}


class _Builder:
    def __init__(self, statement: Json, secured: bool) -> None:
        self.rest: Json = statement["rest"][0]
        self.types = [r["type"] for r in self.rest.get("resource", [])]
        self.paths: Json = {}
        self.parameters: Json = dict(PARAMETERS)
        self.secured = secured
        self.metrics_token = False  # /metrics needs FHIR_METRICS_TOKEN

    def search_params(self, entries: list[Json]) -> list[Json]:
        """A type's search parameters; those every type shares (``_id``…) are one component each."""
        out = []
        for entry in entries:
            if entry["name"].startswith("_"):
                key = f"search{entry['name']}"
                self.parameters.setdefault(key, search_parameter(entry))
                out.append(ref("parameters", key))
            else:
                out.append(search_parameter(entry))
        return out

    def resource_paths(self, entry: Json) -> None:
        t = entry["type"]
        codes = {i["code"] for i in entry.get("interaction", [])}
        base: Json = {}
        if "search-type" in codes:
            params = self.search_params(entry.get("searchParam", []))
            base["get"] = _op(f"search-type-{t}", f"Search {t}", t, {"200": RESPONSES["Bundle"]},
                              params + SEARCH_RESULT_PARAMS + READ_PARAMS)
            form = {"type": "object", "properties": {p["name"]: {"type": "string"}
                                                    for p in entry.get("searchParam", [])}}
            self.paths[f"/{t}/_search"] = {"post": _op(
                f"search-type-post-{t}", f"Search {t} (parameters in the body)", t, {"200": RESPONSES["Bundle"]},
                body={"application/x-www-form-urlencoded": {"schema": form}})}
        if "create" in codes:
            base["post"] = _op(f"create-{t}", f"Create a {t} (conditional with If-None-Exist)", t,
                               {**_ok("201", "Created", t), **_ok("200", "Already there (conditional)", t)},
                               [ref("parameters", "If-None-Exist"), ref("parameters", "Prefer")],
                               fhir_content(ref("schemas", t)))
        if entry.get("conditionalUpdate"):
            base["put"] = _op(f"conditional-update-{t}", f"Update the {t} the search parameters select", t,
                              {**_ok("200", "Updated", t), **_ok("201", "Created", t)},
                              [ref("parameters", "Prefer")], fhir_content(ref("schemas", t)))
        if entry.get("conditionalDelete", "not-supported") != "not-supported":
            base["delete"] = _op(f"conditional-delete-{t}", f"Delete the {t} the search parameters select", t,
                                 {"204": RESPONSES["NoContent"], "200": RESPONSES["Resource"]})
        if base:
            self.paths[f"/{t}"] = base
        if "history-type" in codes:
            self.paths[f"/{t}/_history"] = {"get": _op(f"history-type-{t}", f"History of every {t}", t,
                                                       {"200": RESPONSES["Bundle"]}, HISTORY_PARAMS)}
        self.instance_paths(t, codes)
        self.operation_paths(t)

    def instance_paths(self, t: str, codes: set[str]) -> None:
        item: Json = {"parameters": [ref("parameters", "id")]}
        if "read" in codes:
            item["get"] = _op(f"read-{t}", f"Read a {t}", t, {**_ok("200", "The current version", t),
                                                              "304": {"description": "Not modified"}},
                              [*READ_PARAMS, ref("parameters", "If-None-Match")])
        if "update" in codes:
            item["put"] = _op(f"update-{t}", f"Update (or create) a {t}", t,
                              {**_ok("200", "Updated", t), **_ok("201", "Created", t)},
                              [ref("parameters", "If-Match"), ref("parameters", "Prefer")],
                              fhir_content(ref("schemas", t)))
        if "patch" in codes:
            item["patch"] = _op(f"patch-{t}", f"Patch a {t} (JSON Patch or FHIRPath Patch)", t,
                                _ok("200", "Patched", t),
                                [ref("parameters", "If-Match"), ref("parameters", "Prefer")],
                                {"application/json-patch+json": {"schema": ref("schemas", "JsonPatch")},
                                 FHIR_JSON: {"schema": ref("schemas", "Parameters")}})
        if "delete" in codes:
            item["delete"] = _op(f"delete-{t}", f"Delete a {t}", t, {"204": RESPONSES["NoContent"],
                                                                     "200": RESPONSES["Resource"]})
        self.paths[f"/{t}/{{id}}"] = item
        if "history-instance" in codes:
            self.paths[f"/{t}/{{id}}/_history"] = {"parameters": [ref("parameters", "id")], "get": _op(
                f"history-instance-{t}", f"History of a {t}", t, {"200": RESPONSES["Bundle"]}, HISTORY_PARAMS)}
        if "vread" in codes:
            self.paths[f"/{t}/{{id}}/_history/{{vid}}"] = {
                "parameters": [ref("parameters", "id"), ref("parameters", "vid")],
                "get": _op(f"vread-{t}", f"Read one version of a {t}", t, _ok("200", "That version", t), READ_PARAMS)}

    def operation_paths(self, t: str | None) -> None:
        for level in ("system",) if t is None else ("type", "instance"):
            seen: set[str] = set()
            for op in operations.registered():
                if not getattr(op, level) or op.name in seen:
                    continue
                if t is not None and op.resource_types is not None and t not in op.resource_types:
                    continue
                seen.add(op.name)
                self.operation(op, level, t)

    def operation(self, op: operations.Operation, level: str, t: str | None) -> None:
        path = {"system": f"/${op.name}", "type": f"/{t}/${op.name}", "instance": f"/{t}/{{id}}/${op.name}"}[level]
        tag = t or "System"
        where = {"system": "the system", "type": f"{t}", "instance": f"a {t}"}[level]
        summary = f"${op.name} on {where}"
        inputs = _inputs(op)
        item: Json = {"parameters": [ref("parameters", "id")]} if level == "instance" else {}
        op_id = f"op-{op.name}-{level}-{t or 'system'}"
        body = fhir_content(ref("schemas", "Resource"))
        item["post"] = _op(f"{op_id}-post", summary, tag, {"200": RESPONSES["Resource"]}, body=body)
        if not op.affects_state:
            item["get"] = _op(f"{op_id}-get", summary, tag, {"200": RESPONSES["Resource"]},
                              [_input_param(p) for p in inputs if _simple(p)])
        self.paths[path] = item

    def system_paths(self) -> None:
        codes = {i["code"] for i in self.rest.get("interaction", [])}
        root: Json = {}
        if "search-system" in codes:
            root["get"] = _op("search-system", "Search all resource types", "System", {"200": RESPONSES["Bundle"]},
                              [{"name": "_type", "in": "query", "required": False, "schema": {"type": "string"},
                                "description": "Comma-separated resource types"}, *SEARCH_RESULT_PARAMS])
        if codes & {"batch", "transaction"}:
            root["post"] = _op("batch-transaction", "Process a batch or transaction Bundle", "System",
                               _ok("200", "The batch-response or transaction-response", "Bundle"),
                               body=fhir_content(ref("schemas", "Bundle")))
        self.paths["/"] = root
        if "history-system" in codes:
            self.paths["/_history"] = {"get": _op("history-system", "History of everything", "System",
                                                  {"200": RESPONSES["Bundle"]}, HISTORY_PARAMS)}
        self.paths["/metadata"] = {"get": _op(
            "capabilities", "The CapabilityStatement", "System", _ok("200", "What this server supports",
                                                                   "CapabilityStatement"),
            [{"name": "mode", "in": "query", "required": False, "schema": {
                "type": "string", "enum": ["full", "normative", "terminology"]}}, *READ_PARAMS[:2]])}
        self.operation_paths(None)

    def compartment_paths(self) -> None:
        for name, definition in sorted(definitions.compartment_definitions().items()):
            if name not in self.types:
                continue
            members = sorted(r["code"] for r in definition.get("resource", []) if r.get("param"))
            self.paths[f"/{name}/{{id}}/{{type}}"] = {"parameters": [ref("parameters", "id")], "get": _op(
                f"search-compartment-{name}", f"Search inside a {name}'s compartment", name,
                {"200": RESPONSES["Bundle"]},
                [{"name": "type", "in": "path", "required": True, "description": "The resource type searched",
                  "schema": {"type": "string", "enum": members}}, *SEARCH_RESULT_PARAMS])}

    def observability_paths(self) -> None:
        health = {"description": "Healthy",
                  "content": {"application/health+json": {"schema": ref("schemas", "Health")}}}
        self.paths["/healthz"] = {"get": _op("healthz", "Liveness: the process answers", "Observability",
                                             {"200": health})}
        self.paths["/readyz"] = {"get": _op("readyz", "Readiness: database reachable and migrated", "Observability",
                                            {"200": health})}
        self.paths["/metrics"] = {"get": _op("metrics", "Prometheus metrics", "Observability", {"200": {
            "description": "Prometheus text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}})}
        self.paths["/openapi.json"] = {"get": _op("openapi", "This document", "Observability", {"200": {
            "description": "OpenAPI 3.0.3", "content": {"application/json": {"schema": {"type": "object"}}}}})}
        if self.secured:
            for path in PUBLIC:
                for method, operation in self.paths[path].items():
                    if method != "parameters":
                        operation["security"] = []
        if self.metrics_token:
            self.paths["/metrics"]["get"]["security"] = [{"metricsToken": []}]


def _inputs(op: operations.Operation) -> list[Json]:
    """The operation's ``in`` parameters, from its OperationDefinition (or HL7's, by canonical URL)."""
    params = (op.definition or {}).get("parameter")
    if not params:
        published = definitions.by_canonical(op.canonical)
        params = (published or {}).get("parameter")
    return [p for p in params or [] if isinstance(p, dict) and p.get("use") == "in" and isinstance(p.get("name"), str)]


def _simple(param: Json) -> bool:
    """May go in a GET query string: a primitive value (operations.html#executing)."""
    kind = param.get("type")
    primitive = isinstance(kind, str) and kind[:1].islower()
    return "part" not in param and (param.get("searchType") is not None or primitive)


def _input_param(param: Json) -> Json:
    schema: Json = {"type": "string"}
    if param.get("type") in ("integer", "positiveInt", "unsignedInt"):
        schema = {"type": "integer"}
    elif param.get("type") == "boolean":
        schema = {"type": "boolean"}
    if param.get("max", "1") != "1":
        schema = {"type": "array", "items": schema}
    return {"name": param["name"], "in": "query", "required": int(param.get("min", 0)) > 0,
            "description": str(param.get("documentation", ""))[:500], "schema": schema}


def build(statement: Json, base: str, *, secured: bool, metrics_token: bool = False) -> Json:
    """The OpenAPI document of the server whose CapabilityStatement this is."""
    b = _Builder(statement, secured)
    b.metrics_token = metrics_token
    b.system_paths()
    for entry in b.rest.get("resource", []):
        b.resource_paths(entry)
    b.compartment_paths()
    b.observability_paths()
    doc: Json = {
        "openapi": "3.0.3",
        "info": {"title": "FHIR R4 server", "version": __version__,
                 "description": f"FHIR {FHIR_VERSION} RESTful API (http://hl7.org/fhir/R4/http.html). Bodies are "
                                "application/fhir+json (application/fhir+xml too); errors are OperationOutcomes."},
        "servers": [{"url": base}],
        "tags": [{"name": "System"}, {"name": "Observability"}, *({"name": t} for t in b.types)],
        "paths": b.paths,
        "components": {"schemas": schemas(b.types), "parameters": b.parameters, "responses": responses(b.types)},
    }
    if secured:
        doc["components"]["securitySchemes"] = {"smart": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "SMART App Launch access token (discovery: /.well-known/smart-configuration)"}}
        doc["security"] = [{"smart": []}]
    if metrics_token:
        doc["components"].setdefault("securitySchemes", {})["metricsToken"] = {
            "type": "http", "scheme": "bearer", "description": "The server's FHIR_METRICS_TOKEN"}
    return doc


class OpenApiCache:
    """The serialised document per base URL, rebuilt when the search registry or the operations change."""

    def __init__(self) -> None:
        self._registry: object = None  # the search registry the cached documents describe (held, not its id)
        self._operations = -1
        self._rendered: dict[str, bytes] = {}

    def cached(self, registry: object, n_operations: int, base: str) -> bytes | None:
        if registry is not self._registry or n_operations != self._operations:
            return None
        return self._rendered.get(base)

    def render(self, registry: object, n_operations: int, base: str, statement: Any, secured: bool,
               metrics_token: bool = False) -> bytes:
        """Build (``statement(base)`` gives the CapabilityStatement), serialise and keep the document."""
        found = orjson.dumps(build(statement(base), base, secured=secured, metrics_token=metrics_token))
        if registry is not self._registry or n_operations != self._operations:
            self._registry, self._operations, self._rendered = registry, n_operations, {}
        if len(self._rendered) < 16:
            self._rendered[base] = found
        return found
