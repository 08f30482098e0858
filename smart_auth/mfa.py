"""Second factor: TOTP (RFC 6238, over RFC 4226 HOTP; pyotp) with recovery codes.

Enrolment gives a random 160-bit secret as an ``otpauth://`` URI (the Key Uri Format that
authenticator apps read) shown as a QR code (segno, inline SVG) and as text; the account is enrolled
once a first code from the app is accepted. A code is accepted for the current 30-second step or
one step either side (RFC 6238 §5.2 network delay), compared in constant time, and never twice: the
last accepted step is kept and a code must be for a later one. Ten recovery codes, each good once,
are made at enrolment and shown once; only their SHA-256 is stored.
"""

from __future__ import annotations

import hmac
import secrets
import time

import pyotp
import segno

from fhir_server.storage.repository import Conn
from smart_auth.grants import digest

STEP = 30
DIGITS = 6
ISSUER = "FHIR server"
RECOVERY_COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)


def new_secret() -> str:
    return pyotp.random_base32(32)


def code_at(secret: str, at: float, digits: int = DIGITS) -> str:
    """The TOTP value of ``secret`` (base32) at Unix time ``at`` (RFC 6238 §4, HMAC-SHA-1)."""
    return pyotp.TOTP(secret, digits=digits, interval=STEP).at(int(at))


def uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg(text: str) -> str:
    """An inline SVG QR code of ``text`` (scalable, no external resources)."""
    svg: str = segno.make(text, error="m").svg_inline(scale=5, border=2, dark="#1d2330", light="#ffffff")
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code for your authenticator app" ', 1)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (within ±1 of now) whose code is ``code``; None when there is none."""
    code = "".join(c for c in code if not c.isspace())
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = int((time.time() if now is None else now) // STEP)
    found = None
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(code_at(secret, step * STEP).encode(), code.encode()):
            found = step
    return found


async def accept(conn: Conn, username: str, code: str) -> bool:
    """True when ``code`` is a valid, not yet used TOTP code of the account (and mark its step used)."""
    cur = await conn.execute("SELECT totp_secret FROM auth_user WHERE username = %s", (username,))
    row = await cur.fetchone()
    if row is None or not row[0]:
        return False
    step = matching_step(row[0], code)
    if step is None:
        return False
    cur = await conn.execute("UPDATE auth_user SET totp_last_step = %s WHERE username = %s AND totp_last_step < %s "
                             "RETURNING 1", (step, username, step))
    return await cur.fetchone() is not None


def _normal(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def new_recovery_codes() -> list[str]:
    codes = ["".join(secrets.choice(_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_COUNT)]
    return [f"{c[:5]}-{c[5:]}" for c in codes]


async def enrol(conn: Conn, username: str, secret: str, step: int) -> list[str]:
    """Enrol the authenticator whose first code was for ``step``; the new recovery codes (old ones are void)."""
    codes = new_recovery_codes()
    await conn.execute("UPDATE auth_user SET totp_secret = %s, totp_last_step = %s WHERE username = %s",
                       (secret, step, username))
    await conn.execute("DELETE FROM auth_recovery WHERE username = %s", (username,))
    for code in codes:
        await conn.execute("INSERT INTO auth_recovery (username, code_hash) VALUES (%s, %s)",
                           (username, digest(_normal(code))))
    return codes


async def use_recovery_code(conn: Conn, username: str, code: str) -> bool:
    normal = _normal(code)
    if len(normal) != 10:
        return False
    cur = await conn.execute("UPDATE auth_recovery SET used = now() WHERE username = %s AND code_hash = %s "
                             "AND used IS NULL RETURNING 1", (username, digest(normal)))
    return await cur.fetchone() is not None


async def remove(conn: Conn, username: str) -> None:
    """Forget the authenticator and recovery codes (an operator's reset for a lost phone)."""
    await conn.execute("UPDATE auth_user SET totp_secret = NULL, totp_last_step = 0 WHERE username = %s", (username,))
    await conn.execute("DELETE FROM auth_recovery WHERE username = %s", (username,))
