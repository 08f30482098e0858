"""Primitive data types (http://hl7.org/fhir/R4/datatypes.html#primitive) in their JSON form (json.html).

One checker per primitive type, built once: ``checker(value) -> reason | None``. A checker tests the
JSON type first (decimal and the integers are JSON numbers, boolean is true/false, everything else
is a string), then the type's regex from its StructureDefinition (compiled ASCII-only: the spec's
regexes are Java regexes, where ``\\s`` is ASCII whitespace), then what a regex can't say: calendar
dates, 32-bit integer ranges, the 1 MB string limit, base64 padding, and the narrative rules.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fhir_server.fhir.decimals import decimal_reason
from fhir_server.model import model
from fhir_server.validation.xhtml import check_xhtml

Checker = Callable[[Any], str | None]

WRONG_JSON_TYPE = "must be a JSON "  # reasons starting so are structural: the JSON type itself is wrong
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MAX_STRING = 1024 * 1024  # datatypes.html#string: strings SHALL NOT exceed 1 MB
_CACHE_LIMIT = 20_000  # distinct valid short strings remembered per type
_CACHEABLE_LEN = 100

_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_WS = re.compile(r"\s+", re.ASCII)
# datatypes.html#string: no character below U+0020 but tab (U+0009), line feed (U+000A) and CR (U+000D).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]").search


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def calendar_reason(value: str) -> str | None:
    """``YYYY-MM-DD...`` names a real day? (the regexes allow 2019-02-31)."""
    if len(value) < 10 or value[8:10] <= "28":
        return None
    year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
    last = 28 if month == 2 and not _leap(year) else _DAYS[month]
    return None if day <= last else "is not a real calendar day"


def _integer(low: int) -> Checker:
    def check(value: Any) -> str | None:
        if type(value) is not int:
            if type(value) is float or type(value) is Decimal:
                return "must be an integer (no fraction, no exponent)"
            return "must be a JSON number"
        if value < low or value > INT32_MAX:
            return f"must be between {low} and {INT32_MAX}"
        return None

    return check


def _decimal(value: Any) -> str | None:
    if type(value) is float:
        return None if value == value and value not in (float("inf"), float("-inf")) else "must be finite"
    if type(value) is int or type(value) is Decimal:  # Decimal: parsed exactly, to keep 1.50 as written
        return decimal_reason(value)  # the range and precision every input format shares
    return "must be a JSON number"


def _boolean(value: Any) -> str | None:
    return None if type(value) is bool else "must be a JSON boolean (true or false)"


def _base64(value: str) -> str | None:
    compact = _WS.sub("", value)
    if len(compact) % 4:
        return "is not valid base64 (length not a multiple of 4)"
    try:
        binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, ValueError):
        return "is not valid base64"
    return None


_EXTRA: dict[str, Callable[[str], str | None]] = {
    "date": calendar_reason,
    "dateTime": calendar_reason,
    "instant": calendar_reason,
    "base64Binary": _base64,
    "xhtml": check_xhtml,
}

# base64Binary: checked by decoding instead of by its regex (stricter about padding, and linear).
_REGEX_OVERRIDES = {"base64Binary": None}


def _string(type_code: str, regex: str | None) -> Checker:
    pattern = re.compile(regex, re.ASCII).fullmatch if regex else None
    extra = _EXTRA.get(type_code)
    limit = MAX_STRING if type_code in ("string", "markdown") else None
    valid: set[str] = set()

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return "must be a JSON string"
        if value in valid:
            return None
        if not value or value.isspace():
            return "must not be empty or only whitespace"
        if limit is not None and len(value) > limit:
            return "is longer than 1 MB"
        if not value.isprintable() and _CONTROL(value) is not None:  # isprintable: the fast common case
            return "contains a control character (below U+0020, other than tab, CR and LF)"
        if pattern is not None and pattern(value) is None:
            return f"does not match the {type_code} format"
        if extra is not None:
            reason = extra(value)
            if reason is not None:
                return reason
        if len(value) <= _CACHEABLE_LEN:
            if len(valid) >= _CACHE_LIMIT:
                valid.clear()
            valid.add(value)
        return None

    return check


def build_checkers() -> dict[str, Checker]:
    """A checker for each of the 20 R4 primitive types."""
    m = model()
    out: dict[str, Checker] = {
        "boolean": _boolean,
        "decimal": _decimal,
        "integer": _integer(INT32_MIN),
        "unsignedInt": _integer(0),
        "positiveInt": _integer(1),
    }
    for name in ("base64Binary", "canonical", "code", "date", "dateTime", "id", "instant", "markdown",
                 "oid", "string", "time", "uri", "url", "uuid", "xhtml"):
        info = m.type(name)
        regex = info.regex if info is not None else None
        out[name] = _string(name, _REGEX_OVERRIDES.get(name, regex))
    return out
