"""``fhir-server rotate-key``: bring every stored resource version under the current key, online.

A row needs work when it is not sealed with the current key: sealed with an older key, or plain JSON
(encryption turned on after data existed). With no current key (only ``FHIR_ENCRYPTION_OLD_KEYS``),
every sealed row goes back to plain JSONB instead: the way to turn encryption off.

Each table is walked in the order of its key (``rid``, ``seq``) by batches: the rows of a batch that
need work are locked ``FOR UPDATE SKIP LOCKED``, opened, sealed again and updated in one short
transaction, so servers keep reading and writing meanwhile. A row a writer holds at that moment is
skipped and tried again at the end (a writer seals its new version with its own current key anyway).
The identity a row is sealed with (``Type/id/version``) does not change; only the nonce, the key and
the ciphertext do.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhir_server.storage import crypto

RETRIES = 20  # passes over the rows skipped because a writer held them
PLAIN = "plain JSON"


@dataclass(slots=True)
class TableReport:
    table: str
    before: Counter[str] = field(default_factory=Counter)  # what the rows changed were under (key id or PLAIN)
    left: int = 0  # rows still needing work at the end (held by writers all along, or written since by an old key)

    @property
    def changed(self) -> int:
        return sum(self.before.values())


def _need(keys: crypto.Keys) -> tuple[str, list[Any]]:
    """The condition (alias t) of a row that needs work under these keys."""
    if keys.current_id is None:
        return "t.key_id IS NOT NULL", []
    return "t.key_id IS DISTINCT FROM %s AND (t.content IS NOT NULL OR t.content_enc IS NOT NULL)", [keys.current_id]


def _columns(table: str) -> str:
    return "rid" if table == "resource" else "seq"


def count(conn: Any, table: str) -> Counter[str]:
    """Rows with content per key id (``PLAIN`` for plain JSON) — a full scan of the table."""
    rows = conn.execute(f"SELECT coalesce(key_id, %s), count(*) FROM {table} "
                        "WHERE content IS NOT NULL OR content_enc IS NOT NULL GROUP BY 1", (PLAIN,)).fetchall()
    return Counter({r[0]: int(r[1]) for r in rows})


def _redo(conn: Any, keys: crypto.Keys, table: str, ks: list[int], report: TableReport) -> list[int]:
    """Re-seal the rows ``ks`` that still need it, in one transaction; returns those a writer held."""
    col = _columns(table)
    cond, args = _need(keys)
    with conn.transaction():
        rows = conn.execute(
            f"SELECT t.{col}, t.key_id, t.res_type, t.id, t.version, {crypto.content_sql('t')} FROM {table} t "
            f"WHERE t.{col} = ANY(%s) AND {cond} FOR UPDATE SKIP LOCKED", [ks, *args]).fetchall()
        updates: list[tuple[int, str | None, bytes | None, str | None]] = []
        for k, key_id, res_type, res_id, version, text in rows:
            plain = crypto.content_bytes(text)
            assert plain is not None
            report.before[key_id or PLAIN] += 1
            if keys.current_id is None:
                updates.append((k, plain.decode(), None, None))
            else:
                updates.append((k, None, keys.seal(plain, f"{res_type}/{res_id}/{version}"), keys.current_id))
        if updates:
            conn.execute(
                f"UPDATE {table} t SET content = v.c::jsonb, content_enc = v.e, key_id = v.kid "
                "FROM unnest(%s::bigint[], %s::text[], %s::bytea[], %s::text[]) AS v(k, c, e, kid) "
                f"WHERE t.{col} = v.k", [list(x) for x in zip(*updates, strict=True)])
    done = {u[0] for u in updates}
    skipped = [k for k in ks if k not in done]
    if not skipped:
        return []
    busy = conn.execute(f"SELECT t.{col} FROM {table} t WHERE t.{col} = ANY(%s) AND {cond}",
                        [skipped, *args]).fetchall()
    return [r[0] for r in busy]


def rotate_table(conn: Any, keys: crypto.Keys, table: str, batch: int = 500,
                 progress: Callable[[TableReport], None] | None = None) -> TableReport:
    """Walk ``table`` once, then retry the rows writers held; ``conn`` is a synchronous autocommit connection."""
    report = TableReport(table)
    col = _columns(table)
    cond, args = _need(keys)
    after, busy = 0, []
    while True:
        ks = [r[0] for r in conn.execute(
            f"SELECT t.{col} FROM {table} t WHERE t.{col} > %s AND {cond} ORDER BY t.{col} LIMIT %s",
            [after, *args, batch]).fetchall()]
        if not ks:
            break
        after = ks[-1]
        busy += _redo(conn, keys, table, ks, report)
        if progress is not None:
            progress(report)
    for _ in range(RETRIES):
        if not busy:
            break
        time.sleep(0.25)
        busy = [k for i in range(0, len(busy), batch) for k in _redo(conn, keys, table, busy[i:i + batch], report)]
    report.left = len(busy)
    if keys.current_id is not None:  # rows an old key sealed after the walk passed them (a server not restarted)
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE key_id IS NOT NULL AND key_id <> %s",
                           (keys.current_id,)).fetchone()
        report.left = max(report.left, int(row[0]))
    return report
