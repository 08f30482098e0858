"""Operation parameters (http://hl7.org/fhir/R4/parameters.html): typed access to GET and Parameters values."""

from __future__ import annotations

import builtins
import re
from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.fhir.dates import date_range

Json = dict[str, Any]
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


def _value(p: Any) -> Any:
    """The value of one parameter: a query string, or a Parameters.parameter's value[x]/resource/parts."""
    if not isinstance(p, dict):
        return p
    if "resource" in p:
        return p["resource"]
    for key, v in p.items():
        if key.startswith("value"):
            return v
    if "part" in p:
        return p["part"]
    return None


class Params:
    def __init__(self, pairs: list[tuple[builtins.str, Any]]) -> None:
        self.pairs = pairs

    def names(self) -> set[builtins.str]:
        return {n for n, _ in self.pairs}

    def all(self, name: builtins.str) -> list[Any]:
        return [_value(v) for n, v in self.pairs if n == name]

    def raw(self, name: builtins.str) -> list[Any]:
        return [v for n, v in self.pairs if n == name]

    def get(self, name: builtins.str) -> Any:
        values = self.all(name)
        if len(values) > 1:
            raise BadRequest(f"Parameter '{name}' may appear only once")
        return values[0] if values else None

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str | None:
        v = self.get(name)
        if v is None:
            return default
        if not isinstance(v, str):
            raise BadRequest(f"Parameter '{name}' must be a string")
        return v

    def int(self, name: builtins.str, default: builtins.int | None = None) -> builtins.int | None:
        """A FHIR integer (R4 datatypes: 32-bit signed, ``-?([0]|([1-9][0-9]*))`` in ASCII digits)."""
        v = self.get(name)
        if v is None:
            return default
        if isinstance(v, str) and len(v) <= 12 and _INTEGER.fullmatch(v):
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise BadRequest(f"Parameter '{name}' must be an integer, not '{str(v)[:40]}'")
        if not INT_MIN <= v <= INT_MAX:
            raise BadRequest(f"Parameter '{name}' is out of the range of a FHIR integer ({INT_MIN} to {INT_MAX})")
        return v

    def bool(self, name: builtins.str, default: builtins.bool | None = None) -> builtins.bool | None:
        v = self.get(name)
        if v is None:
            return default
        if isinstance(v, builtins.bool):
            return v
        if v in ("true", "false"):
            return builtins.bool(v == "true")
        raise BadRequest(f"Parameter '{name}' must be true or false, not '{v}'")

    def date(self, name: builtins.str) -> tuple[Any, Any] | None:
        v = self.str(name)
        if v is None:
            return None
        try:
            return date_range(v)
        except ValueError as exc:
            raise BadRequest(f"Parameter '{name}': '{v}' is not a date/dateTime") from exc

    def resource(self, name: builtins.str) -> Json | None:
        v = self.get(name)
        if v is not None and not (isinstance(v, dict) and "resourceType" in v):
            raise BadRequest(f"Parameter '{name}' must be a resource")
        return v


def parameters_resource(values: list[tuple[str, Any]]) -> Json:
    """A Parameters resource: (name, value) with value a resource (dict with resourceType) or ("valueX", v)."""
    out = []
    for name, value in values:
        if isinstance(value, dict) and "resourceType" in value:
            out.append({"name": name, "resource": value})
        elif isinstance(value, tuple):
            out.append({"name": name, value[0]: value[1]})
        elif isinstance(value, list):
            out.append({"name": name, "part": value})
        else:
            raise TypeError(f"cannot put {value!r} into Parameters")
    return {"resourceType": "Parameters", "parameter": out}
