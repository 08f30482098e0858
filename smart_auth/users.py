"""Local accounts for the login page (SMART App Launch 2.x "app-launch" user authentication).

Username and password, the password hashed with argon2id (argon2-cffi); a successful login opens a
browser session (an HttpOnly cookie whose SHA-256 is stored). ``fhir_user`` links the account to
its FHIR resource (``Practitioner/123``, ``Patient/456``): it becomes the ``fhirUser`` claim, and a
Patient user's ``user/`` scopes reach only its own compartment. (Accounts, MFA and federated login
are a later issue.)
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fhir_server.storage.repository import Conn
from smart_auth.grants import digest, new_secret

HASHER = PasswordHasher()
FHIR_USER = re.compile(r"(Practitioner|PractitionerRole|Patient|RelatedPerson|Person)/[A-Za-z0-9\-.]{1,64}")
_DUMMY = HASHER.hash("not a password")  # verified against when the user is unknown (same timing)


@dataclass(slots=True)
class User:
    username: str
    fhir_user: str | None
    name: str | None


async def add_user(conn: Conn, username: str, password: str, fhir_user: str | None, name: str | None) -> None:
    """Create the account, or set its password, FHIR resource and name when it exists."""
    if not username or len(password) < 8:
        raise ValueError("a username and a password of at least 8 characters are needed")
    if fhir_user is not None and not FHIR_USER.fullmatch(fhir_user):
        raise ValueError(f"fhirUser must be Practitioner/, PractitionerRole/, Patient/, RelatedPerson/ or Person/ "
                         f"and an id, not '{fhir_user}'")
    hashed = await asyncio.to_thread(HASHER.hash, password)
    await conn.execute(
        "INSERT INTO auth_user (username, password_hash, fhir_user, name) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, "
        "fhir_user = excluded.fhir_user, name = excluded.name", (username, hashed, fhir_user, name))


async def get_user(conn: Conn, username: str) -> User | None:
    cur = await conn.execute("SELECT username, fhir_user, name FROM auth_user WHERE username = %s", (username,))
    row = await cur.fetchone()
    return User(row[0], row[1], row[2]) if row else None


async def check_password(conn: Conn, username: str, password: str) -> User | None:
    cur = await conn.execute("SELECT password_hash FROM auth_user WHERE username = %s", (username,))
    row = await cur.fetchone()
    hashed = row[0] if row else _DUMMY
    try:
        await asyncio.to_thread(HASHER.verify, hashed, password)
    except (VerificationError, InvalidHashError):
        return None
    return await get_user(conn, username) if row else None


async def open_session(conn: Conn, username: str, seconds: int) -> str:
    sid = new_secret()
    await conn.execute("INSERT INTO auth_session (id_hash, username, expires) VALUES (%s, %s, %s)",
                       (digest(sid), username, datetime.now(UTC) + timedelta(seconds=seconds)))
    return sid


async def session_user(conn: Conn, sid: str | None) -> User | None:
    if not sid:
        return None
    cur = await conn.execute(
        "SELECT u.username, u.fhir_user, u.name FROM auth_session s JOIN auth_user u USING (username) "
        "WHERE s.id_hash = %s AND s.expires > now()", (digest(sid),))
    row = await cur.fetchone()
    return User(row[0], row[1], row[2]) if row else None
