"""Comparison prefixes of ordered parameters (http://hl7.org/fhir/R4/search.html#prefix): eq ne gt lt ge le sa eb ap."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from fhir_server.errors import BadRequest

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
# search.html#number: a decimal, optionally in exponential form; no sign-less "nan"/"inf" spellings
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
MAX_DIGITS = 60  # more significant digits than any stored value can carry
MAX_EXPONENT = 300  # |exponent| beyond this is out of the range PostgreSQL numeric columns hold


def split_prefix(value: str) -> tuple[str, str]:
    """("ge", "2013-01") from "ge2013-01"; the default prefix is eq."""
    if value[:2] in PREFIXES:
        return value[:2], value[2:]
    return "eq", value


def parse_number(text: str, name: str) -> tuple[Decimal, Decimal, Decimal]:
    """(value, low, high): the value and the range its written precision implies (100 → [99.5, 100.5)).

    Client errors (not a number, too many digits, an exponent out of range) are 400s.
    """
    if not _NUMBER.fullmatch(text):
        raise BadRequest(f"{name}: '{text}' is not a number (e.g. 100, 5.40, 1e2, with an optional prefix)")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid decimals
        raise BadRequest(f"{name}: '{text}' is not a number") from exc
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if len(digits) > MAX_DIGITS or abs(exponent) > MAX_EXPONENT or abs(value.adjusted()) > MAX_EXPONENT:
        raise BadRequest(f"{name}: '{text}' is out of the range this server searches")
    half = Decimal(5).scaleb(exponent - 1)
    return value, value - half, value + half
