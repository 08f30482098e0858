"""The range and precision of a FHIR decimal this server stores (R4 datatypes.html#decimal).

R4 fixes the decimal's lexical form but not its range; the server keeps decimals in JSONB (PostgreSQL
``numeric``) and reads stored JSON back with a parser that turns numbers into 64-bit floats, so a
value beyond a double's range would be stored and then break every read of the resource. JSON
bodies, XML bodies and ``$validate`` share one rule: at most ``MAX_DIGITS`` digits, a magnitude a
double can hold, and no more decimal places than such a value needs.
"""

from __future__ import annotations

import sys
from decimal import Decimal

MAX_DIGITS = 64  # R4 asks for at least 18 significant digits; 64 is far beyond any measured value
_DOUBLE_MAX = Decimal(sys.float_info.max)  # about 1.8e308: what the JSON path's parser accepts
_MIN_EXPONENT = -(308 + MAX_DIGITS)  # the last digit of the smallest magnitude kept
_INT_LIMIT = 10**MAX_DIGITS


def decimal_reason(value: Decimal | int) -> str | None:
    """Why ``value`` cannot be stored as a decimal, or None when it can."""
    if type(value) is int:
        return None if -_INT_LIMIT < value < _INT_LIMIT else f"has more than {MAX_DIGITS} digits"
    assert isinstance(value, Decimal)
    if not value.is_finite():
        return "must be a finite number"
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if len(digits) > MAX_DIGITS:
        return f"has more than {MAX_DIGITS} digits"
    if abs(value) > _DOUBLE_MAX:
        return "is out of range (the largest magnitude is about 1.8e308)"
    if exponent < _MIN_EXPONENT:
        return f"has more than {-_MIN_EXPONENT} decimal places"
    return None
