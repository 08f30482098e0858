"""history at instance, type and system level (http://hl7.org/fhir/R4/http.html#history).

Newest first; ``_count`` pages, ``_since`` and ``_at`` filter. Paging uses a cursor on the global
change sequence, so a page never repeats or skips a version when other clients write meanwhile.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fhir_server import access
from fhir_server.errors import BadRequest, NotFound
from fhir_server.fhir.bundle import Json, history_entry, new_bundle
from fhir_server.fhir.dates import parse_instant_param, parse_range_param
from fhir_server.interactions.common import check_id, check_type
from fhir_server.storage import repository
from fhir_server.storage.repository import Conn, HistoryQuery, Version

SCAN_PAGES = 20  # a restricted caller's page looks at most this many pages of versions
ALLOWED = {"_count", "_since", "_at", "_cursor", "_format", "_pretty", "_list", "_summary", "_elements"}
_ONCE = frozenset({"_count", "_since", "_cursor"})


def _count(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise BadRequest(f"_count must be a non-negative integer, not '{value}'")
    return min(int(value), maximum)


def build_query(
    params: list[tuple[str, str]], res_type: str | None, res_id: str | None, default: int, maximum: int
) -> HistoryQuery:
    q = HistoryQuery(res_type=res_type, res_id=res_id)
    values = dict(params)
    seen: set[str] = set()
    for name, _ in params:
        if name not in ALLOWED:
            raise BadRequest(f"Unknown history parameter '{name}' (supported: _count, _since, _at)")
        if name in _ONCE and name in seen:  # which one would count? refused rather than guessed
            raise BadRequest(f"The history parameter {name} may appear only once", expression=[name])
        seen.add(name)
    q.count = _count(values.get("_count"), default, maximum)
    if "_since" in values:
        q.since = parse_instant_param(values["_since"], "_since")
    if "_at" in values:
        q.at = parse_range_param(values["_at"], "_at")
    if "_cursor" in values:
        if not values["_cursor"].isdigit():
            raise BadRequest("_cursor is not a valid paging cursor")
        q.before_seq = int(values["_cursor"])
    return q


async def history(
    conn: Conn,
    base: str,
    params: list[tuple[str, str]],
    res_type: str | None = None,
    res_id: str | None = None,
    default_count: int = 20,
    max_count: int = 1000,
) -> Json:
    if res_type is not None:
        check_type(res_type)
    if res_id is not None:
        check_id(res_id)
    interaction = "history-instance" if res_id else "history-type" if res_type else "history-system"
    access.require(interaction, res_type)
    q = build_query(params, res_type, res_id, default_count, max_count)
    first_page = q.before_seq is None
    rows, cursor = await _page(conn, q, interaction)
    if res_id is not None and not rows and first_page and q.since is None and q.at is None \
            and not await repository.exists_any_version(conn, res_type or "", res_id):
        raise NotFound(f"{res_type}/{res_id} is not known")
    path = "/".join(p for p in (res_type, res_id) if p) + ("/_history" if res_type else "_history")
    keep = [(k, v) for k, v in params if k not in ("_cursor",)]
    links = [{"relation": "self", "url": _url(base, path, params)}]
    if cursor is not None:
        links.append({"relation": "next", "url": _url(base, path, [*keep, ("_cursor", str(cursor))])})
    total = await repository.history_total(conn, q) if q.since is None and q.at is None else None
    if access.current().restricted:
        total = None  # versions the caller may not see are left out of the pages
    bundle = new_bundle("history", total=total, links=links)
    bundle["entry"] = [
        history_entry(base, r.res_type, r.id, r.version, r.last_updated, r.method, r.content) for r in rows
    ]
    return bundle


async def _page(conn: Conn, q: HistoryQuery, interaction: str) -> tuple[list[Version], int | None]:
    """Up to ``q.count`` versions, newest first, that the caller may see; and the next page's cursor."""
    if not access.current().restricted:
        rows = await repository.history(conn, q)
        more = len(rows) > q.count and q.count > 0
        return rows[: q.count], rows[q.count - 1].seq if more else None
    out: list[Version] = []
    for _ in range(SCAN_PAGES):
        rows = await repository.history(conn, q)
        for row in rows[: q.count]:
            if len(out) == q.count:
                return out, out[-1].seq
            if await _visible(conn, interaction, row):
                out.append(row)
        if len(rows) <= q.count or q.count == 0:
            return out, None
        q.before_seq = rows[q.count - 1].seq
    return out, q.before_seq  # stop scanning here; the next page goes on from this version


async def _visible(conn: Conn, interaction: str, row: Version) -> bool:
    """A version is visible when its content is; a deletion when the version it deleted was."""
    content = row.content
    if row.method == "DELETE" or content is None:
        before = await repository.vread(conn, row.res_type, row.id, row.version - 1) if row.version > 1 else None
        content = before.content if before is not None else None
    return content is not None and access.visible(interaction, row.res_type, content)


def _url(base: str, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base}/{path}" + (f"?{query}" if query else "")

