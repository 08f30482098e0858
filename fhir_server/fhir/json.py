"""FHIR JSON (http://hl7.org/fhir/R4/json.html): parsing client bodies with limits, serialising responses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from fhir_server.errors import BadRequest

Json = dict[str, Any]


# Numbers a binary float cannot carry exactly as written: trailing zeros (1.50), exponents, many digits.
# A match (possibly inside a string: harmless) sends the body through the exact, slower parser.
_PRECISE = re.compile(rb"\d\.\d*0(?![\d.])|\d{16,}|\.\d{15,}|\d[eE][-+]?\d")


def parse_body(body: bytes, what: str = "request body") -> Any:
    """Parse a client's JSON; malformed JSON is a 400 naming where it broke.

    FHIR decimals keep their precision (R4 datatypes.html#decimal): bodies with numbers that a
    float would alter are parsed with ``Decimal`` for every non-integer number.
    """
    if not body.strip():
        raise BadRequest(f"The {what} is empty; a FHIR resource in JSON was expected")
    try:
        if _PRECISE.search(body) is None:
            return orjson.loads(body)
        orjson.loads(body)  # the fast parser's verdict on well-formedness and nesting
        return json.loads(body, parse_float=Decimal)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        if "recursion" in msg.lower():
            raise BadRequest(f"The {what} nests JSON too deeply") from exc
        raise BadRequest(f"The {what} is not valid JSON: {msg}") from exc
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"The {what} is not valid JSON: {exc}") from exc


def loads_exact(body: bytes) -> Any:
    """Parse trusted JSON (stored or just serialised) keeping decimals as written (``1.50`` stays 1.50)."""
    if _PRECISE.search(body) is None:
        return orjson.loads(body)
    return json.loads(body, parse_float=Decimal)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"cannot serialise {type(value).__name__}")


def parse_resource(body: bytes) -> Json:
    data = parse_body(body)
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object (a FHIR resource)")
    return data


def dumps(data: Any, pretty: bool = False) -> bytes:
    """Serialise (``Decimal`` written exactly as it is)."""
    if pretty:
        return orjson.dumps(data, default=_default, option=orjson.OPT_INDENT_2)
    return orjson.dumps(data, default=_default)


def now() -> datetime:
    """The current instant at millisecond precision (what ``meta.lastUpdated`` can express)."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def instant(t: datetime) -> str:
    """A FHIR instant: ``2024-05-01T10:20:30.123Z``."""
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def http_date(t: datetime) -> str:
    """An HTTP-date (RFC 9110) for ``Last-Modified``."""
    return t.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
