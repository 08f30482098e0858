"""Abuse protection (OWASP ASVS V2.2 "General Authenticator Security": anti-automation; RFC 6585 §4
429 Too Many Requests with ``Retry-After``).

Both live in PostgreSQL, so they hold across every server process:

- **Lockout** — failed sign-ins (wrong password, wrong second factor) are counted per account; after
  ``lockout_attempts`` of them the account pauses for ``lockout_seconds``. A name that matches no
  account is counted the same way under its own key, so the answers never tell whether an account
  exists.
- **Rate limits** — a fixed-window counter per endpoint group and client address, updated with one
  atomic ``INSERT … ON CONFLICT DO UPDATE``.
"""

from __future__ import annotations

import math

from fhir_server.storage.repository import Conn
from smart_auth.config import AuthConfig


class TooMany(Exception):
    """Refused for now; ``retry_after`` seconds until it may be tried again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = max(1, retry_after)


def ident_for(name: str, username: str | None) -> str:
    """The lockout key: the account when there is one, otherwise the (case-folded) name typed."""
    return f"user:{username}" if username else f"name:{name.strip().lower()[:320]}"


async def check_locked(conn: Conn, ident: str) -> None:
    """Raise ``TooMany`` while ``ident`` is locked."""
    cur = await conn.execute(
        "SELECT extract(epoch FROM locked_until - now()) FROM auth_lockout WHERE ident = %s AND locked_until > now()",
        (ident,))
    row = await cur.fetchone()
    if row is not None:
        raise TooMany(math.ceil(float(row[0])))


async def failed(conn: Conn, ident: str, config: AuthConfig) -> bool:
    """Count a failure; True when it locked the account (the count starts again after the cool-down)."""
    cur = await conn.execute(
        "INSERT INTO auth_lockout AS l (ident, failures, updated) VALUES (%s, 1, now()) "
        "ON CONFLICT (ident) DO UPDATE SET failures = CASE WHEN l.updated < now() - make_interval(secs => %s) "
        "THEN 1 ELSE l.failures + 1 END, updated = now() RETURNING failures",
        (ident, config.lockout_seconds))
    row = await cur.fetchone()
    if row is None or row[0] < config.lockout_attempts:
        return False
    await conn.execute(
        "UPDATE auth_lockout SET failures = 0, locked_until = now() + make_interval(secs => %s) WHERE ident = %s",
        (config.lockout_seconds, ident))
    return True


async def succeeded(conn: Conn, ident: str) -> None:
    await conn.execute("DELETE FROM auth_lockout WHERE ident = %s", (ident,))


async def hit(conn: Conn, group: str, address: str, limit: int, window: int) -> None:
    """Count one request of ``group`` from ``address``; raise ``TooMany`` past ``limit`` per ``window`` s."""
    cur = await conn.execute(
        "INSERT INTO auth_rate AS r (bucket, window_start, hits) VALUES (%s, now(), 1) "
        "ON CONFLICT (bucket) DO UPDATE SET "
        "hits = CASE WHEN r.window_start <= now() - make_interval(secs => %s) THEN 1 ELSE r.hits + 1 END, "
        "window_start = CASE WHEN r.window_start <= now() - make_interval(secs => %s) THEN now() "
        "ELSE r.window_start END "
        "RETURNING hits, extract(epoch FROM window_start + make_interval(secs => %s) - now())",
        (f"{group}:{address}", window, window, window))
    row = await cur.fetchone()
    if row is not None and row[0] > limit:
        raise TooMany(math.ceil(float(row[1])))

