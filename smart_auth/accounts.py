"""Account life cycle (SMART App Launch 2.x ``fhirUser``; OWASP Forgot Password Cheat Sheet): new patient
accounts with their Patient record, verification and reset links by email, turning accounts off.

A patient who signs up (or signs in with an identity provider for the first time, when the settings
allow it) gets a new Patient resource — name, birth date, email — written through the server's own
create interaction (validation, index, outbox), and the account is linked to it as ``fhirUser``.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from fhir_server.fhir.json import now
from fhir_server.interactions.create import create
from fhir_server.storage.repository import Conn
from fhir_server.storage.writes import WriteSession
from smart_auth import mail, onetime, sessions, users
from smart_auth.users import User

Json = dict[str, Any]


def patient_resource(name: str, email: str | None, birth_date: str | None) -> Json:
    parts = name.split()
    human: Json = {"text": name}
    if len(parts) > 1:
        human.update({"family": parts[-1], "given": parts[:-1]})
    resource: Json = {"resourceType": "Patient", "active": True, "name": [human]}
    if email:
        resource["telecom"] = [{"system": "email", "value": email}]
    if birth_date:
        resource["birthDate"] = birth_date
    return resource


async def new_patient_record(server: Any, name: str, email: str | None, birth_date: str | None) -> str:
    """Create the Patient resource of a new patient account; its id."""
    async with server.pool.connection() as conn, conn.transaction():
        session = WriteSession(conn, server.indexer, now())
        outcome = await create(server, session, "Patient", patient_resource(name, email, birth_date))
        await session.flush()
    server.after_commit(session.touched)
    assert outcome.resource is not None
    return str(outcome.resource["id"])


async def new_patient_account(server: Any, conn: Conn, name: str, email: str, password: str | None,
                              birth_date: str | None, email_verified: bool) -> User:
    """A patient account (username = a new id, signing in by its email) and its Patient record."""
    if password is not None:
        users.check_password_rules(password, email)
    patient = await new_patient_record(server, name, email, birth_date)
    username = "p-" + secrets.token_hex(6)
    await users.add_user(conn, username, password, f"Patient/{patient}", name, email=email, role="patient",
                         email_verified=email_verified)
    user = await users.get_user(conn, username)
    assert user is not None
    return user


def link(base: str, path: str, token: str, request_id: str | None = None) -> str:
    query = {"token": token, **({"request": request_id} if request_id else {})}
    return f"{base}/auth/{path}?{urlencode(query)}"


async def send_verification(auth: Any, conn: Conn, base: str, user: User) -> None:
    if user.email:
        token = await onetime.issue(conn, user.username, "verify", auth.config.verify_seconds)
        await auth.mailer.send(mail.verification(user.email, user.name, link(base, "verify", token)))


async def send_reset(auth: Any, conn: Conn, base: str, user: User, invite: bool = False) -> None:
    if not user.email:
        return
    seconds = auth.config.invite_seconds if invite else auth.config.reset_seconds
    token = await onetime.issue(conn, user.username, "reset", seconds)
    url = link(base, "reset", token)
    message = mail.invitation(user.email, user.name, url) if invite else \
        mail.reset(user.email, user.name, url, seconds // 60)
    await auth.mailer.send(message)


async def send_already_registered(auth: Any, conn: Conn, base: str, user: User) -> None:
    if user.email:
        token = await onetime.issue(conn, user.username, "reset", auth.config.reset_seconds)
        await auth.mailer.send(mail.already_registered(user.email, link(base, "reset", token)))


async def set_disabled(conn: Conn, username: str, disabled: bool, access_seconds: int) -> bool:
    """Turn an account off (its sessions end and their tokens are revoked) or on again."""
    found = await users.set_disabled(conn, username, disabled)
    if found and disabled:
        await sessions.end_all(conn, username, access_seconds)
    return found
