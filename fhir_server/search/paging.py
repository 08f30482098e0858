"""Stable paging (http://hl7.org/fhir/R4/search.html#paging, http.html#paging): keyset cursors.

A ``next``/``previous`` link carries the sort values and rid of the last (or first) row shown, so
the following page starts right after it: resources written by other clients meanwhile neither
push a row onto two pages nor make one disappear between pages. A cursor that was tampered with,
or belongs to another search, is a 400.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from fhir_server.errors import BadRequest
from fhir_server.search.sort import SortKey
from fhir_server.search.sql import Cond

MAX_CURSOR = 4096
MAX_RID = 2**63 - 1


@dataclass(slots=True)
class Cursor:
    forward: bool
    values: list[Any]
    rid: int
    total: int | None = None


def _enc(v: Any) -> Any:
    if isinstance(v, datetime):
        return {"t": v.isoformat()}
    if isinstance(v, Decimal):
        return {"n": str(v)}
    return v


def _dec(v: Any, kind: str) -> Any:
    if v is None:
        return None
    if kind == "date" and isinstance(v, dict) and isinstance(v.get("t"), str):
        t = datetime.fromisoformat(v["t"])
        if t.tzinfo is None:
            raise ValueError("naive time")
        return t
    if kind == "number" and isinstance(v, dict) and isinstance(v.get("n"), str):
        n = Decimal(v["n"])
        if not n.is_finite() or abs(n.adjusted()) > 300:
            raise ValueError("number out of range")
        return n
    if kind == "text" and isinstance(v, str):
        return v
    if kind == "float" and isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    raise ValueError("bad cursor value")


def encode(c: Cursor) -> str:
    raw = orjson.dumps([1 if c.forward else 0, [_enc(v) for v in c.values], c.rid, c.total])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, keys: list[SortKey]) -> Cursor:
    try:
        if len(text) > MAX_CURSOR:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        forward, values, rid, total = orjson.loads(raw)
        if not isinstance(values, list) or len(values) != len(keys) or type(rid) is not int:
            raise ValueError("shape")
        if not 0 <= rid <= MAX_RID or forward not in (0, 1):
            raise ValueError("range")
        decoded = [_dec(v, k.kind) for v, k in zip(values, keys, strict=True)]
        kept_total = total if type(total) is int and 0 <= total <= MAX_RID else None
        return Cursor(bool(forward), decoded, rid, kept_total)
    except (ValueError, TypeError, InvalidOperation, binascii.Error, orjson.JSONDecodeError) as exc:
        raise BadRequest("_cursor is not a paging cursor of this search (follow the links as given)") from exc


def beyond(keys: list[SortKey], c: Cursor) -> Cond:
    """Rows after the cursor (forward) or before it (backward), in the order of ``keys`` + rid."""
    return _level(keys, c, 0)


def _level(keys: list[SortKey], c: Cursor, i: int) -> Cond:
    if i == len(keys):
        return Cond("r.rid > %s" if c.forward else "r.rid < %s", [c.rid])
    key, value = keys[i], c.values[i]
    rest = _level(keys, c, i + 1)
    e = key.sql
    if c.forward:
        if value is None:  # nulls come last: only more nulls can follow
            return Cond(f"({e} IS NULL AND ({rest.sql}))", rest.args)
        op = "<" if key.descending else ">"
        return Cond(f"({e} {op} %s OR {e} IS NULL OR ({e} = %s AND ({rest.sql})))", [value, value, *rest.args])
    if value is None:
        return Cond(f"({e} IS NOT NULL OR ({rest.sql}))", rest.args)
    op = ">" if key.descending else "<"
    return Cond(f"(({e} {op} %s) OR ({e} = %s AND ({rest.sql})))", [value, value, *rest.args])


def order_by(keys: list[SortKey], forward: bool, rid: str = "r.rid") -> str:
    parts = []
    for k in keys:
        desc = k.descending if forward else not k.descending
        parts.append(f"{k.sql} {'DESC' if desc else 'ASC'} NULLS {'LAST' if forward else 'FIRST'}")
    parts.append(rid + (" ASC" if forward else " DESC"))
    return ", ".join(parts)
