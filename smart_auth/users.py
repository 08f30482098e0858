"""Local accounts for the login page (SMART App Launch 2.x "app-launch" user authentication).

An account has a username, an email, a display name, a role (``patient``, ``practitioner``,
``admin``) and may be turned off. Its password is hashed with argon2id (argon2-cffi); an account
made by federated sign-in may have none. ``fhir_user`` links the account to its FHIR resource
(``Practitioner/123``, ``Patient/456``): it becomes the ``fhirUser`` claim, and a Patient user's
``user/`` scopes reach only its own compartment. Sign-in works with the username or the email; a
browser session is an HttpOnly cookie whose SHA-256 is stored (``sessions``).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fhir_server.storage.repository import Conn
from smart_auth.config import ROLES

HASHER = PasswordHasher()
FHIR_USER = re.compile(r"(Practitioner|PractitionerRole|Patient|RelatedPerson|Person)/[A-Za-z0-9\-.]{1,64}")
EMAIL = re.compile(r"[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+")
USERNAME = re.compile(r"[^\s\x00-\x1f/]{1,200}")
MIN_PASSWORD = 8
_DUMMY = HASHER.hash("not a password")  # verified against when the user is unknown (same timing)
COLUMNS = "username, fhir_user, name, email, role, disabled, email_verified, totp_secret IS NOT NULL"


@dataclass(slots=True)
class User:
    username: str
    fhir_user: str | None
    name: str | None
    email: str | None = None
    role: str = "practitioner"
    disabled: bool = False
    email_verified: bool = False
    mfa: bool = False  # a TOTP authenticator is enrolled

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> User:
        return cls(*row)

    def public(self) -> dict[str, Any]:
        return {"username": self.username, "email": self.email, "name": self.name, "role": self.role,
                "fhirUser": self.fhir_user, "emailVerified": self.email_verified, "disabled": self.disabled,
                "mfa": self.mfa}


def check_fields(username: str, fhir_user: str | None, email: str | None, role: str | None) -> None:
    if not USERNAME.fullmatch(username):
        raise ValueError("a username of 1 to 200 characters without spaces or '/' is needed")
    if fhir_user is not None and not FHIR_USER.fullmatch(fhir_user):
        raise ValueError(f"fhirUser must be Practitioner/, PractitionerRole/, Patient/, RelatedPerson/ or Person/ "
                         f"and an id, not '{fhir_user}'")
    if email is not None and not EMAIL.fullmatch(email):
        raise ValueError(f"'{email}' is not an email address")
    if role is not None and role not in ROLES:
        raise ValueError(f"the role must be one of {', '.join(ROLES)}")


def check_password_rules(password: str, *others: str | None) -> None:
    if len(password) < MIN_PASSWORD or len(password) > 1000:
        raise ValueError(f"a password of at least {MIN_PASSWORD} characters is needed")
    if any(o and password.lower() == o.lower() for o in others):
        raise ValueError("the password must not be your email address or username")


def default_role(fhir_user: str | None) -> str:
    return "patient" if (fhir_user or "").startswith(("Patient/", "RelatedPerson/")) else "practitioner"


async def add_user(conn: Conn, username: str, password: str | None, fhir_user: str | None, name: str | None, *,
                   email: str | None = None, role: str | None = None, email_verified: bool = False) -> None:
    """Create the account, or set its password, FHIR resource, name (and email, role) when it exists."""
    check_fields(username, fhir_user, email, role)
    if password is not None:
        check_password_rules(password)
    hashed = await asyncio.to_thread(HASHER.hash, password) if password is not None else None
    role = role or default_role(fhir_user)
    try:
        await conn.execute(
            "INSERT INTO auth_user (username, password_hash, fhir_user, name, email, role, email_verified) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (username) DO UPDATE SET password_hash = coalesce(excluded.password_hash, "
            "auth_user.password_hash), fhir_user = excluded.fhir_user, name = excluded.name, "
            "email = coalesce(excluded.email, auth_user.email), role = excluded.role, "
            "email_verified = auth_user.email_verified OR excluded.email_verified",
            (username, hashed, fhir_user, name, email, role, email_verified))
    except psycopg.errors.UniqueViolation as exc:
        raise ValueError("another account uses this email address") from exc


async def email_taken(conn: Conn, email: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM auth_user WHERE lower(email) = lower(%s)", (email,))
    return await cur.fetchone() is not None


async def get_user(conn: Conn, username: str) -> User | None:
    if "\x00" in username:
        return None
    cur = await conn.execute(f"SELECT {COLUMNS} FROM auth_user WHERE username = %s", (username,))
    row = await cur.fetchone()
    return User.from_row(row) if row else None


async def find(conn: Conn, ident: str) -> tuple[User, str | None] | None:
    """The account signing in as ``ident`` (its username, or its email) and its password hash."""
    if not ident or "\x00" in ident or len(ident) > 320:
        return None
    cur = await conn.execute(
        f"SELECT {COLUMNS}, password_hash FROM auth_user WHERE username = %s OR lower(email) = lower(%s) "
        "ORDER BY username = %s DESC LIMIT 1", (ident, ident, ident))
    row = await cur.fetchone()
    return (User.from_row(row[:-1]), row[-1]) if row else None


async def by_email(conn: Conn, email: str) -> User | None:
    cur = await conn.execute(f"SELECT {COLUMNS} FROM auth_user WHERE lower(email) = lower(%s)", (email,))
    row = await cur.fetchone()
    return User.from_row(row) if row else None


async def check_password(conn: Conn, username: str, password: str) -> User | None:
    """The account when the password is its password (the same work is done for unknown accounts)."""
    found = await find(conn, username) if "\x00" not in password else None
    hashed = found[1] if found and found[1] else _DUMMY
    try:
        await asyncio.to_thread(HASHER.verify, hashed, password)
    except (VerificationError, InvalidHashError):
        return None
    return found[0] if found and found[1] else None


async def set_password(conn: Conn, username: str, password: str) -> None:
    user = await get_user(conn, username)
    check_password_rules(password, username, user.email if user else None)
    hashed = await asyncio.to_thread(HASHER.hash, password)
    await conn.execute("UPDATE auth_user SET password_hash = %s WHERE username = %s", (hashed, username))


async def mark_verified(conn: Conn, username: str) -> None:
    await conn.execute("UPDATE auth_user SET email_verified = true WHERE username = %s", (username,))


async def set_disabled(conn: Conn, username: str, disabled: bool) -> bool:
    cur = await conn.execute("UPDATE auth_user SET disabled = %s WHERE username = %s RETURNING 1",
                             (disabled, username))
    return await cur.fetchone() is not None


async def all_users(conn: Conn) -> list[User]:
    cur = await conn.execute(f"SELECT {COLUMNS} FROM auth_user ORDER BY created, username")
    return [User.from_row(r) for r in await cur.fetchall()]
