"""Content negotiation (http://hl7.org/fhir/R4/http.html#mime-type): ``_format``, ``Accept``, ``Content-Type``.

Also ``_pretty`` (indented output) and the request body size limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from fhir_server.errors import BadRequest, NotAcceptable, PayloadTooLarge, UnsupportedMediaType
from fhir_server.fhir.json import parse_body, parse_resource
from fhir_server.formats import xml_in

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
JSON_TYPES = frozenset(
    {"application/fhir+json", "application/json", "application/json+fhir", "text/json", "json"}
)
XML_TYPES = frozenset({"application/fhir+xml", "application/xml", "application/xml+fhir", "text/xml", "xml"})
JSON_PATCH = "application/json-patch+json"
log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class Format:
    pretty: bool = False
    content_type: str = FHIR_JSON

    @property
    def xml(self) -> bool:
        return self.content_type in (FHIR_XML, "application/xml")


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


_DEFAULT = Format()
_ACCEPTS: dict[str, Format] = {}


def negotiate(request: Request) -> Format:
    """The response format, JSON or XML; ``_format`` overrides ``Accept``."""
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
        if media in XML_TYPES:
            return Format(pretty, FHIR_XML if "fhir" in media or media == "xml" else "application/xml")
        raise NotAcceptable(f"_format '{fmt}' is not supported; use json or xml")
    accept = request.headers.get("accept")
    if not accept:
        return Format(pretty)
    for part in accept.split(","):
        media = _media(part)
        if media in JSON_TYPES:
            ct = FHIR_JSON if "fhir" in media else "application/json"
            return Format(pretty, ct)
        if media in XML_TYPES:
            return Format(pretty, FHIR_XML if "fhir" in media else "application/xml")
        if media in ("*/*", "application/*", "text/html", "application/xhtml+xml"):
            return Format(pretty)
    raise NotAcceptable(f"None of the media types in Accept '{accept}' can be served; "
                        "use application/fhir+json or application/fhir+xml")


def body_kind(request: Request, *, allow_patch: bool = False) -> str:
    """What the body is: ``json``, ``xml`` or ``json-patch``; anything else is a 415."""
    raw = request.headers.get("content-type")
    if raw is None:
        return "json"  # lenient: many clients omit it for JSON
    media = _media(raw)
    if "charset" in raw.lower():
        _check_charset(raw)
    if media in JSON_TYPES:
        return "json"
    if allow_patch and media == JSON_PATCH:
        return "json-patch"
    if media in XML_TYPES:
        return "xml"
    raise UnsupportedMediaType(f"Content-Type '{raw}' is not supported; send application/fhir+json or "
                               "application/fhir+xml")


def _check_charset(raw: str) -> None:
    """http.html#mime-type: FHIR uses UTF-8 only; a body declared in another charset is a 415."""
    for param in raw.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in ("utf-8", "utf8"):
                raise UnsupportedMediaType(f"Content-Type '{raw}': FHIR content is UTF-8, not {charset}")


def decode_body(kind: str, raw: bytes, what: str = "request body") -> Any:
    """The parsed body: JSON (or a JSON Patch document), or FHIR XML turned into its JSON form."""
    if kind == "xml":
        if not raw.strip():
            raise BadRequest(f"The {what} is empty; a FHIR resource was expected")
        try:
            return xml_in.parse_resource(raw)
        except xml_in.FhirXmlError as exc:
            expression = [exc.path] if exc.path else None
            raise BadRequest(f"The {what} is not a FHIR XML resource: {exc}", expression=expression) from exc
        except RecursionError as exc:
            raise BadRequest(f"The {what} nests XML too deeply") from exc
        except Exception as exc:  # hostile input must never become a 500: whatever the XML stack raises
            log.warning("XML body refused by an unexpected %s: %s", type(exc).__name__, exc)
            raise BadRequest(f"The {what} could not be read as FHIR XML ({type(exc).__name__})") from exc
    if kind == "json-patch":
        return parse_body(raw, "JSON Patch document")
    return parse_resource(raw)


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
