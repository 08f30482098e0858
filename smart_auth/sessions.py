"""Browser sign-in sessions of the authorization server (OpenID Connect Core §3.1.2.3 "authenticate the
end-user"; RFC 6265 cookies; OpenID Connect RP-Initiated Logout's "end the session").

A session is an unguessable id in an HttpOnly, SameSite=Lax cookie (Secure unless turned off for
plain-HTTP development); only its SHA-256 is stored. It is *partial* after the password (or the
identity provider) when a second factor is still due, and *complete* after that — a complete
session gets a new id (no session fixation). Grants issued under a session are recorded with it,
so ending the session (sign-out, password reset, account turned off) revokes their tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.storage.repository import Conn
from smart_auth import grants
from smart_auth.grants import digest, new_secret
from smart_auth.users import COLUMNS, User

COOKIE = "smart_session"
PATH = "/auth"


@dataclass(slots=True)
class Partial:
    """A session waiting for its second factor."""

    user: User
    pending_secret: str | None  # the TOTP secret being enrolled, if any


def _at(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def open_session(conn: Conn, username: str, seconds: int, complete: bool = True) -> str:
    sid = new_secret()
    await conn.execute("INSERT INTO auth_session (id_hash, username, expires, complete) VALUES (%s, %s, %s, %s)",
                       (digest(sid), username, _at(seconds), complete))
    return sid


async def session_user(conn: Conn, sid: str | None) -> User | None:
    """The user of a complete, unexpired session of an account that is not turned off."""
    if not sid or "\x00" in sid:
        return None
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM auth_session s JOIN auth_user u USING (username) "
        "WHERE s.id_hash = %s AND s.expires > now() AND s.complete AND NOT u.disabled", (digest(sid),))
    row = await cur.fetchone()
    return User.from_row(row) if row else None


async def partial(conn: Conn, sid: str | None) -> Partial | None:
    if not sid or "\x00" in sid:
        return None
    cur = await conn.execute(
        f"SELECT {COLUMNS}, s.pending_secret FROM auth_session s JOIN auth_user u USING (username) "
        "WHERE s.id_hash = %s AND s.expires > now() AND NOT s.complete AND NOT u.disabled", (digest(sid),))
    row = await cur.fetchone()
    return Partial(User.from_row(row[:-1]), row[-1]) if row else None


async def set_pending_secret(conn: Conn, sid: str, secret: str) -> None:
    await conn.execute("UPDATE auth_session SET pending_secret = %s WHERE id_hash = %s", (secret, digest(sid)))


async def any_session(conn: Conn, sid: str | None) -> tuple[User, bool, str | None] | None:
    """(user, complete?, TOTP secret being enrolled) of a partial or complete session."""
    if not sid or "\x00" in sid:
        return None
    cur = await conn.execute(
        f"SELECT {COLUMNS}, s.complete, s.pending_secret FROM auth_session s JOIN auth_user u USING (username) "
        "WHERE s.id_hash = %s AND s.expires > now() AND NOT u.disabled", (digest(sid),))
    row = await cur.fetchone()
    return (User.from_row(row[:-2]), bool(row[-2]), row[-1]) if row else None


async def complete(conn: Conn, sid: str, username: str, seconds: int) -> str:
    """Replace the partial session by a complete one with a new id."""
    await conn.execute("DELETE FROM auth_session WHERE id_hash = %s", (digest(sid),))
    return await open_session(conn, username, seconds)


async def link_grant(conn: Conn, sid: str | None, grant_id: str, seconds: int) -> None:
    """Record that ``grant_id`` was issued under the session ``sid`` (until its tokens would expire)."""
    if sid:
        await conn.execute("INSERT INTO auth_session_grant (session_hash, grant_id, expires) VALUES (%s, %s, %s) "
                           "ON CONFLICT DO NOTHING", (digest(sid), grant_id, _at(seconds)))


async def _end(conn: Conn, hashes: list[str], access_seconds: int) -> int:
    cur = await conn.execute("DELETE FROM auth_session_grant WHERE session_hash = ANY(%s) RETURNING grant_id",
                             (hashes,))
    revoked = [r[0] for r in await cur.fetchall()]
    for grant_id in revoked:
        await grants.revoke_grant(conn, grant_id, access_seconds)
    await conn.execute("DELETE FROM auth_session WHERE id_hash = ANY(%s)", (hashes,))
    return len(revoked)


async def end(conn: Conn, sid: str | None, access_seconds: int) -> int:
    """End one session and revoke the grants issued under it; the number of grants revoked."""
    if not sid or "\x00" in sid:
        return 0
    return await _end(conn, [digest(sid)], access_seconds)


async def end_all(conn: Conn, username: str, access_seconds: int) -> int:
    """End every session of an account (password changed, account turned off) and revoke their grants."""
    cur = await conn.execute("SELECT id_hash FROM auth_session WHERE username = %s", (username,))
    return await _end(conn, [r[0] for r in await cur.fetchall()], access_seconds)


def set_cookie(response: Response, request: Request, sid: str, seconds: int, secure: bool) -> None:
    response.set_cookie(COOKIE, sid, max_age=seconds, httponly=True, samesite="lax", secure=secure, path=PATH)


def clear_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="lax", secure=secure)


def cookie(request: Request) -> str | None:
    return request.cookies.get(COOKIE)
