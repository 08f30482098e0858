"""The searchset Bundle (http://hl7.org/fhir/R4/search.html#return, bundle.html#searchset).

Matches carry ``search.mode = match``, included resources ``include`` (each once), and parameters
the server did not apply are listed in an OperationOutcome entry with ``search.mode = outcome``
(search.html#errors). Links are absolute: ``self`` shows only the parameters applied, ``next`` and
``previous`` carry a keyset cursor. ``_summary`` and ``_elements`` shape every resource returned.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_server.fhir import summary
from fhir_server.search import paging
from fhir_server.search.params import SearchRequest
from fhir_server.search.sort import SortKey
from fhir_server.search.types import special
from fhir_server.storage.crypto import content_bytes

Json = dict[str, Any]
Row = tuple[Any, ...]  # rid, res_type, id, version, last_updated, content, sort values..., [distance]


def entry(base: str, row: Row, mode: str, req: SearchRequest, with_distance: bool) -> Json:
    content = content_bytes(row[5])
    resource: Any
    if req.summary in ("true", "text", "data") or req.elements:
        data = orjson.loads(content)
        if req.summary in ("true", "text", "data"):
            data = summary.summarize(data, req.summary)
        if req.elements:
            data = summary.elements(data, req.elements)
        resource = data
    else:
        resource = orjson.Fragment(content)
    search: Json = {"mode": mode}
    if with_distance and row[-1] is not None:
        search["extension"] = [{"url": special.DISTANCE_EXT, "valueDistance": {
            "value": round(float(row[-1]), 3), "unit": "km", "system": "http://unitsofmeasure.org", "code": "km"}}]
    return {"fullUrl": f"{base}/{row[1]}/{row[2]}", "resource": resource, "search": search}


def outcome_entry(ignored: list[tuple[str, str]]) -> Json:
    issues = [{"severity": "warning", "code": "not-supported", "diagnostics": f"{name} was not applied: {why}",
               "expression": [name]} for name, why in ignored]
    return {"resource": {"resourceType": "OperationOutcome", "issue": issues}, "search": {"mode": "outcome"}}


def url(base: str, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base}/{path}" + (f"?{query}" if query else "")


def links(base: str, path: str, params: list[tuple[str, str]], keys: list[SortKey], rows: list[Row],
          more: bool, cursor: paging.Cursor | None, total: int | None) -> list[Json]:
    """self (with the cursor of this page), first (on later pages), next and previous."""
    here = [("_cursor", paging.encode(cursor))] if cursor else []
    out = [{"relation": "self", "url": url(base, path, params + here)}]
    if cursor is not None:
        out.append({"relation": "first", "url": url(base, path, params)})
    n = len(keys)
    forward = cursor.forward if cursor else True
    has_next = more if forward else cursor is not None
    has_prev = (cursor is not None) if forward else more
    if rows and has_next:
        last = rows[-1]
        c = paging.Cursor(True, [last[6 + i] for i in range(n)], last[0], total)
        out.append({"relation": "next", "url": url(base, path, [*params, ("_cursor", paging.encode(c))])})
    if rows and has_prev:
        first = rows[0]
        c = paging.Cursor(False, [first[6 + i] for i in range(n)], first[0], total)
        out.append({"relation": "previous", "url": url(base, path, [*params, ("_cursor", paging.encode(c))])})
    return out
