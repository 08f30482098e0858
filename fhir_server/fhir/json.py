"""FHIR JSON (http://hl7.org/fhir/R4/json.html): parsing client bodies with limits, serialising responses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from fhir_server.errors import BadRequest, InvalidValue

Json = dict[str, Any]

# datatypes.html#string: strings SHALL NOT contain characters below U+0020 but tab, LF and CR.
# In JSON text such a character can only be an escape (raw ones are not JSON): ``\u0000``-``\u001f``
# but ``\u0009``/``\u000a``/``\u000d``, or ``\b``/``\f``, after an even run of backslashes.
_CONTROL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\(?:u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F])|[bf])")
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


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
            data = orjson.loads(body)
        else:
            orjson.loads(body)  # the fast parser's verdict on well-formedness and nesting
            data = json.loads(body, parse_float=Decimal)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        if "recursion" in msg.lower():
            raise BadRequest(f"The {what} nests JSON too deeply") from exc
        raise BadRequest(f"The {what} is not valid JSON: {msg}") from exc
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"The {what} is not valid JSON: {exc}") from exc
    if b"\\" in body and _CONTROL_ESCAPE.search(body) is not None and not _is_batch(data):
        refuse_control_characters(data, what)
    return data


def _is_batch(data: Any) -> bool:
    """A batch's entries succeed or fail one by one: each is checked (and refused) on its own."""
    return type(data) is dict and data.get("resourceType") == "Bundle" and data.get("type") == "batch"


def _first_control(value: Any, path: str) -> str | None:
    """The path of the first key or string holding a control character, if any."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if type(node) is str:
            if CONTROL_CHARS.search(node):
                return where
        elif type(node) is dict:
            for key, item in reversed(list(node.items())):
                if CONTROL_CHARS.search(key):
                    return f"{where}.{key!a}" if where else ascii(key)
                stack.append((item, f"{where}.{key}" if where else key))
        elif type(node) is list:
            stack.extend((item, f"{where}[{i}]") for i, item in reversed(list(enumerate(node))))
    return None


def control_path(data: Any) -> str | None:
    """Where the first key or string with a control character is in parsed JSON (``""``: the root)."""
    return _first_control(data, "")


def refuse_control_characters(data: Any, what: str = "request body") -> None:
    """400 when a string or key holds a character below U+0020 other than tab, LF or CR."""
    root = data.get("resourceType") if type(data) is dict else None
    where = _first_control(data, root if type(root) is str else "")
    if where is not None:
        raise InvalidValue(
            f"The {what} holds a control character at {where or 'its root'}: FHIR strings must not contain "
            "characters below U+0020 other than tab, carriage return and line feed (R4 datatypes.html#string)",
            expression=[where] if where else None,
        )


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
