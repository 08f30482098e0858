"""Bundles the server returns (http://hl7.org/fhir/R4/bundle.html): searchset, history, batch/transaction responses.

Entries may carry a resource as parsed JSON or as the stored JSON bytes (``orjson.Fragment``),
so a page of results is sent without parsing what the database returned.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from fhir_server.fhir.json import instant, now

Json = dict[str, Any]

STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content", 304: "304 Not Modified"}


def status_line(status: int) -> str:
    return STATUS_TEXT.get(status, str(status))


def new_bundle(kind: str, total: int | None = None, links: list[Json] | None = None) -> Json:
    bundle: Json = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant(now())},
        "type": kind,
    }
    if total is not None:
        bundle["total"] = total
    if links:
        bundle["link"] = links
    bundle["entry"] = []
    return bundle


def raw(content: bytes | None) -> Any:
    """Embed stored JSON as is."""
    return orjson.Fragment(content) if content is not None else None


def history_entry(
    base: str, res_type: str, res_id: str, version: int, when: datetime, method: str, content: bytes | None
) -> Json:
    entry: Json = {"fullUrl": f"{base}/{res_type}/{res_id}"}
    if content is not None:
        entry["resource"] = raw(content)
    if method == "POST":
        request = {"method": "POST", "url": res_type}
        status = "201 Created"
    elif method == "DELETE":
        request = {"method": "DELETE", "url": f"{res_type}/{res_id}"}
        status = "204 No Content"
    else:
        request = {"method": method, "url": f"{res_type}/{res_id}"}
        status = "200 OK"
    entry["request"] = request
    entry["response"] = {
        "status": status,
        "etag": f'W/"{version}"',
        "lastModified": instant(when),
    }
    return entry
