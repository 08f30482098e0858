"""RFC 6749 §4.1 and §6 state in PostgreSQL: authorization requests, codes, refresh tokens, revocation.

Every secret handed out (code, refresh token, request and launch id) is 32 random bytes; only its
SHA-256 is stored. Taking a code or a refresh token is one atomic ``UPDATE … WHERE NOT used``, so
two concurrent redemptions cannot both succeed, across any number of server processes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from fhir_server.storage.repository import Conn

Json = dict[str, Any]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_id() -> str:
    return secrets.token_urlsafe(16)


def _at(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _json(value: Any) -> Json:
    data = orjson.loads(value) if isinstance(value, bytes | str) else value
    return data if isinstance(data, dict) else {}


# ---- authorization requests and EHR launches ---------------------------------------------------


async def save_request(conn: Conn, params: Json, seconds: int) -> str:
    rid = new_secret()
    await conn.execute("INSERT INTO auth_request (id_hash, params, expires) VALUES (%s, %s, %s)",
                       (digest(rid), Jsonb(params), _at(seconds)))
    return rid


async def load_request(conn: Conn, rid: str) -> Json | None:
    cur = await conn.execute("SELECT params FROM auth_request WHERE id_hash = %s AND expires > now()", (digest(rid),))
    row = await cur.fetchone()
    return _json(row[0]) if row else None


async def update_request(conn: Conn, rid: str, params: Json) -> None:
    await conn.execute("UPDATE auth_request SET params = %s WHERE id_hash = %s", (Jsonb(params), digest(rid)))


async def drop_request(conn: Conn, rid: str) -> None:
    await conn.execute("DELETE FROM auth_request WHERE id_hash = %s", (digest(rid),))


async def save_launch(conn: Conn, context: Json, client_id: str | None, seconds: int) -> str:
    launch = new_secret()
    await conn.execute("INSERT INTO auth_launch (id_hash, client_id, context, expires) VALUES (%s, %s, %s, %s)",
                       (digest(launch), client_id, Jsonb(context), _at(seconds)))
    return launch


async def load_launch(conn: Conn, launch: str, client_id: str) -> Json | None:
    """The context of an EHR launch id issued for this client (or for any client)."""
    cur = await conn.execute(
        "SELECT context FROM auth_launch WHERE id_hash = %s AND expires > now() "
        "AND (client_id IS NULL OR client_id = %s)", (digest(launch), client_id))
    row = await cur.fetchone()
    return _json(row[0]) if row else None


# ---- codes and refresh tokens ------------------------------------------------------------------


@dataclass(slots=True)
class Stored:
    """A code or refresh token as stored: its grant, client and the authorization data."""

    grant_id: str
    client_id: str
    data: Json
    expires: datetime
    redirect_uri: str = ""
    challenge: str = ""


async def save_code(conn: Conn, grant_id: str, client_id: str, redirect_uri: str, challenge: str,
                    data: Json, seconds: int) -> str:
    code = new_secret()
    await conn.execute(
        "INSERT INTO auth_code (code_hash, grant_id, client_id, redirect_uri, challenge, data, expires) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (digest(code), grant_id, client_id, redirect_uri, challenge, Jsonb(data), _at(seconds)))
    return code


async def take_code(conn: Conn, code: str) -> tuple[Stored | None, str | None]:
    """(the code, None) the first time; (None, its grant id) when it was used before; (None, None) unknown."""
    cur = await conn.execute(
        "UPDATE auth_code SET used = true WHERE code_hash = %s AND NOT used "
        "RETURNING grant_id, client_id, data, expires, redirect_uri, challenge", (digest(code),))
    row = await cur.fetchone()
    if row is not None:
        return Stored(row[0], row[1], _json(row[2]), row[3], row[4], row[5]), None
    cur = await conn.execute("SELECT grant_id FROM auth_code WHERE code_hash = %s", (digest(code),))
    used = await cur.fetchone()
    return None, (used[0] if used else None)


async def save_refresh(conn: Conn, grant_id: str, client_id: str, data: Json, seconds: int) -> str:
    token = new_secret()
    await conn.execute(
        "INSERT INTO auth_refresh (token_hash, grant_id, client_id, data, expires) VALUES (%s, %s, %s, %s, %s)",
        (digest(token), grant_id, client_id, Jsonb(data), _at(seconds)))
    return token


async def take_refresh(conn: Conn, token: str) -> tuple[Stored | None, str | None]:
    """Like ``take_code``: a refresh token is good for one refresh (rotation)."""
    cur = await conn.execute(
        "UPDATE auth_refresh SET used = true WHERE token_hash = %s AND NOT used AND expires > now() "
        "RETURNING grant_id, client_id, data, expires", (digest(token),))
    row = await cur.fetchone()
    if row is not None:
        return Stored(row[0], row[1], _json(row[2]), row[3]), None
    cur = await conn.execute("SELECT grant_id FROM auth_refresh WHERE token_hash = %s AND used", (digest(token),))
    used = await cur.fetchone()
    return None, (used[0] if used else None)


async def find_refresh(conn: Conn, token: str) -> Stored | None:
    """A refresh token that can still be used (for introspection and revocation)."""
    cur = await conn.execute(
        "SELECT grant_id, client_id, data, expires FROM auth_refresh WHERE token_hash = %s AND NOT used "
        "AND expires > now()", (digest(token),))
    row = await cur.fetchone()
    if row is None or await is_revoked(conn, [row[0]]):
        return None
    return Stored(row[0], row[1], _json(row[2]), row[3])


# ---- revocation and replay ---------------------------------------------------------------------


async def revoke(conn: Conn, ident: str, until: datetime) -> None:
    """Put an access-token id (jti) or a grant id on the revocation list until ``until``."""
    await conn.execute("INSERT INTO auth_revoked (id, expires) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE "
                       "SET expires = greatest(auth_revoked.expires, excluded.expires)", (ident, until))


async def revoke_grant(conn: Conn, grant_id: str, access_seconds: int) -> None:
    """Revoke everything issued under a grant: its refresh tokens now, its access tokens via the list."""
    await conn.execute("UPDATE auth_refresh SET used = true WHERE grant_id = %s", (grant_id,))
    await revoke(conn, grant_id, _at(access_seconds))


async def is_revoked(conn: Conn, idents: list[str]) -> bool:
    cur = await conn.execute("SELECT 1 FROM auth_revoked WHERE id = ANY(%s) LIMIT 1", (idents,))
    return await cur.fetchone() is not None


async def first_use_of_jti(conn: Conn, client_id: str, jti: str, expires: datetime) -> bool:
    """Record a client-assertion jti; False when this client used it before (a replay)."""
    cur = await conn.execute(
        "INSERT INTO auth_jti (client_id, jti, expires) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        (client_id, jti, expires))
    return await cur.fetchone() is not None


async def purge(conn: Conn) -> None:
    """Forget what has expired (called now and then)."""
    for table in ("auth_request", "auth_launch", "auth_revoked", "auth_jti", "auth_session", "auth_session_grant",
                  "auth_oidc_state"):
        await conn.execute(f"DELETE FROM {table} WHERE expires < now()")
    await conn.execute("DELETE FROM auth_code WHERE expires < now() - interval '1 day'")
    await conn.execute("DELETE FROM auth_refresh WHERE expires < now()")
    await conn.execute("DELETE FROM auth_onetime WHERE expires < now() - interval '1 day'")
    await conn.execute("DELETE FROM auth_rate WHERE window_start < now() - interval '1 day'")
    await conn.execute("DELETE FROM auth_lockout WHERE coalesce(locked_until, updated) < now() - interval '1 day'")
