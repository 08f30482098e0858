"""FHIRPath collection items (http://hl7.org/fhirpath/N1/#navigation-model) and their system values.

An :class:`Item` is one node of a collection: the JSON value as it is in the resource (a dict for
complex elements, str/bool/int/Decimal for primitives), its type name (FHIR types by their R4 name,
system types as ``System.X``) and, for FHIR primitives, the ``_name`` sibling carrying id/extension.
:func:`system_value` gives the value to compute with (dates parsed, Quantity dicts as Quantity).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fhir_server.fhirpath.values import DateTime, Quantity, Time, parse_date, parse_datetime, parse_time

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
"""The range of System.Integer (http://hl7.org/fhirpath/N1/#integer: 32-bit signed)."""
MAX_ITEMS = 200_000
"""The largest collection select()/combine() may build (nested selects multiply: an execution error)."""
DECIMAL_LIMIT = Decimal(10) ** 28
"""System.Decimal values stay below 10^28 in magnitude (N1 §Decimal; results beyond are empty)."""


class Item:
    """One node of a FHIRPath collection."""

    __slots__ = ("ext", "type", "value")

    def __init__(self, value: Any, type_: str, ext: dict[str, Any] | None = None) -> None:
        self.value = value
        self.type = type_
        self.ext = ext

    def __repr__(self) -> str:
        return f"Item({self.value!r}, {self.type!r})"


STRING_TYPES = frozenset(
    {
        "string", "code", "id", "uri", "url", "canonical", "oid", "uuid", "markdown", "base64Binary",
        "xhtml", "System.String",
    }
)
INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "System.Integer"})
QUANTITY_TYPES = frozenset(
    {"Quantity", "Age", "Duration", "Distance", "Count", "MoneyQuantity", "SimpleQuantity"}
)

# kind of a type's values for computing: str, bool, int, dec, date, dt, time, qty, obj
KIND: dict[str, str] = {t: "str" for t in STRING_TYPES}
KIND.update({t: "int" for t in INTEGER_TYPES})
KIND.update({t: "qty" for t in QUANTITY_TYPES})
KIND.update(
    {
        "boolean": "bool", "System.Boolean": "bool", "decimal": "dec", "System.Decimal": "dec",
        "date": "date", "System.Date": "date", "dateTime": "dt", "instant": "dt",
        "System.DateTime": "dt", "time": "time", "System.Time": "time", "System.Quantity": "qty",
    }
)

UCUM_SYSTEM = "http://unitsofmeasure.org"


def kind_of(item: Item) -> str:
    """The computing kind of an item (see KIND); values of unknown type are judged by Python type."""
    k = KIND.get(item.type)
    if k is not None:
        return k
    return _python_kind(item.value)


def _python_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, (Decimal, float)):
        return "dec"
    if isinstance(v, str):
        return "str"
    if isinstance(v, Quantity):
        return "qty"
    if isinstance(v, Time):
        return "time"
    if isinstance(v, DateTime):
        return "date" if v.date_only else "dt"
    return "obj"


def system_value(item: Item) -> Any:
    """The value to compute with: dates/times parsed, FHIR Quantity as Quantity, decimals as Decimal."""
    v = item.value
    if v is None:
        return None
    k = KIND.get(item.type)
    if k is None or k in ("str", "bool", "int"):
        return to_decimal(v) if isinstance(v, float) else v
    if k == "dec":
        return to_decimal(v)
    if k == "dt":
        return v if isinstance(v, DateTime) else parse_datetime(v)
    if k == "date":
        return v if isinstance(v, DateTime) else parse_date(v)
    if k == "time":
        return v if isinstance(v, Time) else parse_time(v)
    return v if isinstance(v, Quantity) else fhir_quantity(v)


def to_decimal(v: Any) -> Decimal:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)


def fhir_quantity(v: Any) -> Quantity | None:
    """A FHIR Quantity dict as a system Quantity (UCUM code preferred over the display unit)."""
    if not isinstance(v, dict) or v.get("value") is None:
        return None
    unit = v.get("code") if v.get("system") in (UCUM_SYSTEM, None) and v.get("code") else v.get("unit")
    return Quantity(to_decimal(v["value"]), str(unit) if unit else "1")


def system_item(value: Any) -> Item:
    """An Item for a computed Python value, typed by its Python type."""
    if isinstance(value, bool):
        return Item(value, "System.Boolean")
    if isinstance(value, int):
        return Item(value, "System.Integer")
    if isinstance(value, Decimal):
        return Item(value, "System.Decimal")
    if isinstance(value, str):
        return Item(value, "System.String")
    if isinstance(value, Quantity):
        return Item(value, "System.Quantity")
    if isinstance(value, Time):
        return Item(value, "System.Time")
    if isinstance(value, DateTime):
        return Item(value, value.system_type)
    return Item(value, "")


TRUE = Item(True, "System.Boolean")
FALSE = Item(False, "System.Boolean")


def boolean(b: bool) -> list[Item]:
    """A fresh singleton Boolean collection."""
    return [TRUE if b else FALSE]
