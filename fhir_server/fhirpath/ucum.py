"""UCUM units for FHIRPath quantities (http://hl7.org/fhirpath/N1/#quantity-equality, unitsofmeasure.org).

A small UCUM reader for the common units: prefixes, exponents, ``.`` and ``/`` products, brackets,
annotations. Each unit reduces to a factor and dimension exponents over the base units, so that
``4 'g' = 4000 'mg'`` and ``7 days = 1 'wk'``. Calendar years and months stay apart from ``a``/``mo``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache

D = Decimal
Dims = tuple[tuple[str, int], ...]
Unit = tuple[Decimal, Dims]

_PREFIXES = {
    "Y": D("1e24"), "Z": D("1e21"), "E": D("1e18"), "P": D("1e15"), "T": D("1e12"), "G": D("1e9"),
    "M": D("1e6"), "k": D("1e3"), "h": D("1e2"), "da": D("1e1"), "d": D("1e-1"), "c": D("1e-2"),
    "m": D("1e-3"), "u": D("1e-6"), "n": D("1e-9"), "p": D("1e-12"), "f": D("1e-15"), "a": D("1e-18"),
}
# atom -> (factor, {base: exponent}); bases: m g s K mol cd A rad cal_month
_ATOMS: dict[str, tuple[Decimal, dict[str, int]]] = {
    "m": (D(1), {"m": 1}), "g": (D(1), {"g": 1}), "s": (D(1), {"s": 1}), "K": (D(1), {"K": 1}),
    "mol": (D(1), {"mol": 1}), "cd": (D(1), {"cd": 1}), "A": (D(1), {"A": 1}), "rad": (D(1), {"rad": 1}),
    "1": (D(1), {}), "%": (D("0.01"), {}), "10*3": (D(1000), {}), "10*6": (D(10) ** 6, {}),
    "L": (D("0.001"), {"m": 3}), "l": (D("0.001"), {"m": 3}),
    "min": (D(60), {"s": 1}), "h": (D(3600), {"s": 1}), "d": (D(86400), {"s": 1}),
    "wk": (D(604800), {"s": 1}), "mo": (D(2629800), {"s": 1}), "a": (D(31557600), {"s": 1}),
    "[in_i]": (D("0.0254"), {"m": 1}), "[ft_i]": (D("0.3048"), {"m": 1}), "[yd_i]": (D("0.9144"), {"m": 1}),
    "[mi_i]": (D("1609.344"), {"m": 1}), "[lb_av]": (D("453.59237"), {"g": 1}),
    "[oz_av]": (D("28.349523125"), {"g": 1}), "[gr]": (D("0.06479891"), {"g": 1}),
    "Hz": (D(1), {"s": -1}), "N": (D(1000), {"g": 1, "m": 1, "s": -2}),
    "Pa": (D(1000), {"g": 1, "m": -1, "s": -2}), "bar": (D(10) ** 8, {"g": 1, "m": -1, "s": -2}),
    "mm[Hg]": (D("133322.387415"), {"g": 1, "m": -1, "s": -2}),
    "J": (D(1000), {"g": 1, "m": 2, "s": -2}), "W": (D(1000), {"g": 1, "m": 2, "s": -3}),
    "cal": (D("4184"), {"g": 1, "m": 2, "s": -2}), "[Cal]": (D("4184000"), {"g": 1, "m": 2, "s": -2}),
    "eq": (D(1), {"mol": 1}), "U": (D(1) / D(60) / D(10) ** 6, {"mol": 1, "s": -1}),
    "[iU]": (D(1), {"[iU]": 1}), "[IU]": (D(1), {"[iU]": 1}), "deg": (D("0.0174532925199433"), {"rad": 1}),
}
_CALENDAR = {
    "year": (D(12), {"cal_month": 1}), "years": (D(12), {"cal_month": 1}),
    "month": (D(1), {"cal_month": 1}), "months": (D(1), {"cal_month": 1}),
    "week": _ATOMS["wk"], "weeks": _ATOMS["wk"], "day": _ATOMS["d"], "days": _ATOMS["d"],
    "hour": _ATOMS["h"], "hours": _ATOMS["h"], "minute": _ATOMS["min"], "minutes": _ATOMS["min"],
    "second": _ATOMS["s"], "seconds": _ATOMS["s"],
    "millisecond": (D("0.001"), {"s": 1}), "milliseconds": (D("0.001"), {"s": 1}),
}
_TOKEN = re.compile(r"(\[[^\]]*\]|[^./()\[\]{}\d+-]+(?:\[[^\]]*\])?|\d+\*[-+]?\d+|\d+)([-+]?\d+)?")


@cache
def parse_unit(unit: str) -> Unit | None:
    """(factor, dimensions) of a UCUM unit or calendar keyword; None if not understood."""
    if unit in _CALENDAR:
        f, dims = _CALENDAR[unit]
        return f, _freeze(dims)
    text = re.sub(r"\{[^}]*\}", "", unit) or "1"
    factor, dims = D(1), {}
    pos, sign = 0, 1
    if text.startswith("/"):
        sign, pos = -1, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            return None
        atom = _atom(m.group(1))
        if atom is None:
            return None
        exp = int(m.group(2) or 1) * sign
        factor *= atom[0] ** exp
        for base, e in atom[1].items():
            dims[base] = dims.get(base, 0) + e * exp
        pos = m.end()
        if pos < len(text):
            if text[pos] not in "./":
                return None
            sign = -1 if text[pos] == "/" else 1
            pos += 1
    return factor, _freeze(dims)


def _freeze(dims: dict[str, int]) -> Dims:
    return tuple(sorted((k, v) for k, v in dims.items() if v))


def _atom(text: str) -> tuple[Decimal, dict[str, int]] | None:
    if text in _ATOMS:
        return _ATOMS[text]
    if text.isdigit():
        return D(text), {}
    for plen in (2, 1):
        prefix, rest = text[:plen], text[plen:]
        if prefix in _PREFIXES and rest in _ATOMS:
            f, dims = _ATOMS[rest]
            return f * _PREFIXES[prefix], dims
    return None


def to_base(value: Decimal, unit: str) -> tuple[Decimal, Dims] | None:
    """``value unit`` expressed in base units: (value, dimensions); None for unknown units."""
    parsed = parse_unit(unit)
    if parsed is None:
        return None
    return value * parsed[0], parsed[1]


def comparable(unit_a: str, unit_b: str) -> bool:
    if unit_a == unit_b:
        return True
    a, b = parse_unit(unit_a), parse_unit(unit_b)
    return a is not None and b is not None and a[1] == b[1]


def convert(value: Decimal, unit_from: str, unit_to: str) -> Decimal | None:
    """``value`` in ``unit_from`` expressed in ``unit_to``; None when not convertible."""
    if unit_from == unit_to:
        return value
    a, b = parse_unit(unit_from), parse_unit(unit_to)
    if a is None or b is None or a[1] != b[1]:
        return None
    return value * a[0] / b[0]


def multiply_units(a: str, b: str, op: str) -> str:
    """The UCUM unit of a product (``op='.'``) or quotient (``op='/'``) of two quantities."""
    if b == "1":
        return a
    if a == "1":
        return b if op == "." else "/" + b
    return f"{a}{op}{b}"
