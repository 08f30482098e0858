"""Comparison prefixes of ordered parameters (http://hl7.org/fhir/R4/search.html#prefix): eq ne gt lt ge le sa eb ap."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fhir_server.errors import BadRequest

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def split_prefix(value: str) -> tuple[str, str]:
    """("ge", "2013-01") from "ge2013-01"; the default prefix is eq."""
    if value[:2] in PREFIXES:
        return value[:2], value[2:]
    return "eq", value


def parse_number(text: str, name: str) -> tuple[Decimal, Decimal, Decimal]:
    """(value, low, high): the value and the range its written precision implies (100 → [99.5, 100.5))."""
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise BadRequest(f"{name}: '{text}' is not a number") from exc
    if not value.is_finite():
        raise BadRequest(f"{name}: '{text}' is not a finite number")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5) * Decimal(10) ** (exponent - 1)
    return value, value - half, value + half
