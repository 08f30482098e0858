"""Building HTTP responses (http://hl7.org/fhir/R4/http.html#return): headers, ``Prefer: return``, ``_summary``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.errors import BadRequest
from fhir_server.fhir import summary
from fhir_server.fhir.json import dumps, http_date, loads_exact
from fhir_server.formats.xml_out import resource_to_xml
from fhir_server.interactions.common import Json, Outcome
from fhir_server.rest.negotiation import Format

RETURN_VALUES = ("minimal", "representation", "OperationOutcome")


def prefer(request: Request) -> dict[str, str]:
    """The ``Prefer`` header as a dict (``return``, ``handling``, ``respond-async``)."""
    raw = request.headers.get("prefer")
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in raw.replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


def prefer_return(request: Request, default: str = "representation") -> str:
    value = prefer(request).get("return", default)
    if value not in RETURN_VALUES:
        raise BadRequest(f"Prefer: return={value} is not one of {', '.join(RETURN_VALUES)}")
    return value


_BASES: dict[tuple[str, str, str], str] = {}


def base_url(request: Request) -> str:
    """The FHIR base URL: configured, or as the client reached us (scheme, Host, root path)."""
    configured = request.app.state.server.settings.base_url
    if configured:
        return str(configured)
    scope = request.scope
    key = (scope.get("scheme", "http"), request.headers.get("host", ""), scope.get("root_path", ""))
    found = _BASES.get(key)
    if found is None:
        found = str(request.base_url).rstrip("/")
        if len(_BASES) < 1024:
            _BASES[key] = found
    return found


def fhir_response(body: Any, fmt: Format, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A resource (parsed, or stored JSON bytes) in the negotiated format: JSON or XML, maybe pretty."""
    if fmt.xml:
        data = loads_exact(body if isinstance(body, bytes) else dumps(body))
        content = resource_to_xml(data, pretty=fmt.pretty).encode()
    elif isinstance(body, bytes):
        content = body if not fmt.pretty else dumps(loads_exact(body), pretty=True)
    else:
        content = dumps(body, pretty=fmt.pretty)
    return Response(content, status, headers=headers, media_type=fmt.content_type + "; charset=utf-8")


def version_headers(outcome: Outcome, base: str, res_type: str | None = None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if outcome.etag:
        headers["ETag"] = outcome.etag
    if outcome.last_updated is not None:
        headers["Last-Modified"] = http_date(outcome.last_updated)
    if outcome.location:
        headers["Location"] = f"{base}/{outcome.location}"
        headers["Content-Location"] = headers["Location"]
    return headers


def shaped(request: Request, resource: Json | bytes) -> Json | bytes:
    """Apply ``_summary``/``_elements`` from the query to a single resource."""
    params = request.query_params
    mode = params.get("_summary")
    names = params.get("_elements")
    if mode is None and names is None:
        return resource
    data: Json = loads_exact(resource) if isinstance(resource, bytes) else resource
    if mode is not None:
        if summary.check_summary(mode) == "count":
            raise BadRequest("_summary=count applies to searches, not to a read")
        data = summary.summarize(data, mode)
    if names is not None:
        data = summary.elements(data, summary.parse_elements(names))
    return data


def write_response(request: Request, outcome: Outcome, fmt: Format, ret: str, base: str) -> Response:
    """The answer to a create/update/patch/delete, shaped by ``Prefer: return``."""
    headers = version_headers(outcome, base)
    if outcome.status == 204 or ret == "minimal":
        status = 204 if outcome.status == 204 and ret != "OperationOutcome" else outcome.status
        if ret == "OperationOutcome" and outcome.issues:
            return fhir_response({"resourceType": "OperationOutcome", "issue": outcome.issues}, fmt,
                                 200 if status == 204 else status, headers)
        return Response(status_code=status, headers=headers)
    if ret == "OperationOutcome":
        return fhir_response({"resourceType": "OperationOutcome", "issue": outcome.issues}, fmt,
                             outcome.status, headers)
    body: Json | bytes | None = outcome.resource if outcome.resource is not None else outcome.raw
    if body is None:
        return Response(status_code=outcome.status, headers=headers)
    return fhir_response(body, fmt, outcome.status, headers)
