"""Single-use, expiring tokens sent by email (OWASP Forgot Password Cheat Sheet: random, single use,
short-lived, stored hashed): address verification and password reset (an invitation is a reset
link with a longer life).

A token is 32 random bytes; only its SHA-256 is stored. Using one is a single atomic
``UPDATE … WHERE used IS NULL AND expires > now()``, so it works once, across every server process.
Issuing a new reset token voids the earlier unused ones of that account.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fhir_server.storage.repository import Conn
from smart_auth.grants import digest, new_secret

PURPOSES = ("verify", "reset")


async def issue(conn: Conn, username: str, purpose: str, seconds: int) -> str:
    assert purpose in PURPOSES
    if purpose == "reset":
        await conn.execute("UPDATE auth_onetime SET used = now() WHERE username = %s AND purpose = 'reset' "
                           "AND used IS NULL", (username,))
    token = new_secret()
    await conn.execute("INSERT INTO auth_onetime (token_hash, username, purpose, expires) VALUES (%s, %s, %s, %s)",
                       (digest(token), username, purpose, datetime.now(UTC) + timedelta(seconds=seconds)))
    return token


def _ok(token: str) -> bool:
    return 20 <= len(token) <= 100 and "\x00" not in token


async def peek(conn: Conn, token: str, purpose: str) -> str | None:
    """The account of a token that could still be used (to show its form), without using it."""
    if not _ok(token):
        return None
    cur = await conn.execute("SELECT username FROM auth_onetime WHERE token_hash = %s AND purpose = %s "
                             "AND used IS NULL AND expires > now()", (digest(token), purpose))
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def use(conn: Conn, token: str, purpose: str) -> str | None:
    """Use the token: its account the first time, None when unknown, expired or used."""
    if not _ok(token):
        return None
    cur = await conn.execute("UPDATE auth_onetime SET used = now() WHERE token_hash = %s AND purpose = %s "
                             "AND used IS NULL AND expires > now() RETURNING username", (digest(token), purpose))
    row = await cur.fetchone()
    return str(row[0]) if row else None

