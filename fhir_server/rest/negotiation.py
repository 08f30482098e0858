"""Content negotiation (http://hl7.org/fhir/R4/http.html#mime-type): ``_format``, ``Accept``, ``Content-Type``.

Also ``_pretty`` (indented output) and the request body size limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from fhir_server.errors import NotAcceptable, PayloadTooLarge, UnsupportedMediaType

FHIR_JSON = "application/fhir+json"
JSON_TYPES = frozenset(
    {"application/fhir+json", "application/json", "application/json+fhir", "text/json", "json"}
)
XML_TYPES = frozenset({"application/fhir+xml", "application/xml", "application/xml+fhir", "text/xml", "xml", "html"})
JSON_PATCH = "application/json-patch+json"


@dataclass(slots=True, frozen=True)
class Format:
    pretty: bool = False
    content_type: str = FHIR_JSON


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


_DEFAULT = Format()
_ACCEPTS: dict[str, Format] = {}


def negotiate(request: Request) -> Format:
    """The response format: JSON (the only one served so far); ``_format`` overrides ``Accept``."""
    if not request.scope.get("query_string"):
        accept = request.headers.get("accept")
        if accept is None:
            return _DEFAULT
        known = _ACCEPTS.get(accept)
        if known is not None:
            return known
        fmt = _negotiate(request)
        if len(_ACCEPTS) < 256:
            _ACCEPTS[accept] = fmt
        return fmt
    return _negotiate(request)


def _negotiate(request: Request) -> Format:
    params = request.query_params
    pretty = params.get("_pretty", "").lower() == "true"
    fmt = params.get("_format")
    if fmt is not None:
        media = _media(fmt)
        if media in JSON_TYPES:
            return Format(pretty, FHIR_JSON if "fhir" in media or media == "json" else "application/json")
        raise NotAcceptable(f"_format '{fmt}' is not supported; this server answers in application/fhir+json")
    accept = request.headers.get("accept")
    if not accept:
        return Format(pretty)
    for part in accept.split(","):
        media = _media(part)
        if media in JSON_TYPES:
            ct = FHIR_JSON if "fhir" in media else "application/json"
            return Format(pretty, ct)
        if media in ("*/*", "application/*", "text/html", "application/xhtml+xml"):
            return Format(pretty)
    raise NotAcceptable(f"None of the media types in Accept '{accept}' can be served; use application/fhir+json")


def body_kind(request: Request, *, allow_patch: bool = False) -> str:
    """What the body is: ``json`` or ``json-patch``; anything else is a 415."""
    raw = request.headers.get("content-type")
    if raw is None:
        return "json"  # lenient: many clients omit it for JSON
    media = _media(raw)
    if media in JSON_TYPES:
        return "json"
    if allow_patch and media == JSON_PATCH:
        return "json-patch"
    if media in XML_TYPES:
        raise UnsupportedMediaType("XML request bodies are not supported yet; send application/fhir+json")
    raise UnsupportedMediaType(f"Content-Type '{raw}' is not supported; send application/fhir+json")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (checked before and while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is {int(declared):,} bytes; the limit is {limit:,}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body exceeds the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
