"""Reading ``Bundle.entry.request`` (http://hl7.org/fhir/R4/bundle.html#request): what each entry asks for."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.fhir.json import parse_body
from fhir_server.interactions.common import Json

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass(slots=True)
class EntryRequest:
    index: int
    method: str
    url: str
    path: list[str]  # ["Patient", "123", "_history", "2"]
    query: str  # the part after "?", or ""
    resource: Json | None
    full_url: str | None
    if_none_exist: str | None = None
    if_match: int | None = None
    if_none_match: str | None = None
    patch_kind: str | None = None
    patch_body: Any = None
    # filled while processing
    target_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def res_type(self) -> str | None:
        return self.path[0] if self.path else None

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


def parse_etag(value: str | None, where: str) -> int | None:
    """``W/"3"`` (or ``3``) → 3."""
    if value is None:
        return None
    v = value.strip()
    if v.startswith("W/"):
        v = v[2:]
    v = v.strip('"')
    if not v.isdigit():
        raise BadRequest(f"{where}: If-Match '{value}' is not a version ETag like W/\"3\"")
    return int(v)


def split_url(url: str, base: str) -> tuple[list[str], str]:
    if url.startswith(base + "/"):
        url = url[len(base) + 1 :]
    elif "://" in url:
        raise BadRequest(f"The URL '{url}' is not on this server ({base})")
    path, _, query = url.lstrip("/").partition("?")
    return [p for p in path.split("/") if p], query


def _patch_of(resource: Json | None, where: str) -> tuple[str, Any]:
    if resource is None:
        raise BadRequest(f"{where}: a PATCH entry needs a Binary (JSON Patch) or Parameters (FHIRPath Patch)")
    if resource.get("resourceType") == "Parameters":
        return "fhirpath", resource
    if resource.get("resourceType") == "Binary":
        try:
            raw = base64.b64decode(resource.get("data", ""), validate=True)
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"{where}: the Binary does not hold a JSON Patch document") from exc
        return "json-patch", parse_body(raw, f"JSON Patch document of {where}")
    raise BadRequest(f"{where}: a PATCH entry needs a Binary (JSON Patch) or Parameters (FHIRPath Patch)")


def entry_list(bundle: Json) -> list[Any]:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise BadRequest("Bundle.entry must be an array")
    return entries


def parse_entry(i: int, entry: Any, base: str) -> EntryRequest:
    where = f"Bundle.entry[{i}]"
    if not isinstance(entry, dict):
        raise BadRequest(f"{where} is not an object")
    request = entry.get("request")
    if not isinstance(request, dict):
        raise BadRequest(f"{where} has no request (method and url)", expression=[f"{where}.request"])
    method, url = request.get("method"), request.get("url")
    if method not in METHODS:
        raise BadRequest(f"{where}.request.method '{method}' is not one of {', '.join(METHODS)}")
    if not isinstance(url, str) or not url:
        raise BadRequest(f"{where}.request.url is missing", expression=[f"{where}.request.url"])
    resource = entry.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise BadRequest(f"{where}.resource is not a resource object")
    path, query = split_url(url, base)
    if not path:
        raise BadRequest(f"{where}.request.url '{url}' names no resource type")
    full_url = entry.get("fullUrl")
    req = EntryRequest(i, method, url, path, query, resource, full_url if isinstance(full_url, str) else None)
    req.if_none_exist = request.get("ifNoneExist")
    req.if_match = parse_etag(request.get("ifMatch"), where)
    req.if_none_match = request.get("ifNoneMatch")
    if method in ("POST", "PUT") and resource is None:
        raise BadRequest(f"{where}: a {method} entry needs a resource", expression=[f"{where}.resource"])
    if method == "PATCH":
        req.patch_kind, req.patch_body = _patch_of(resource, where)
    return req


def parse_entries(bundle: Json, base: str) -> list[EntryRequest]:
    return [parse_entry(i, entry, base) for i, entry in enumerate(entry_list(bundle))]
