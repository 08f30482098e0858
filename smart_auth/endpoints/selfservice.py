"""Self-service account pages (OWASP Forgot Password Cheat Sheet; NIST SP 800-63B §5.1.1 passwords):
patient sign-up, email confirmation, forgotten password and the new-password form.

Answers never tell whether an account exists: sign-up with a known address answers like a new one
(the owner is told by email instead), and a reset request always says a link was sent if the
account exists. Links are single-use and expire (``onetime``); a new password ends every session of
the account (and revokes their tokens) and lifts a lockout.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date

from starlette.requests import Request
from starlette.responses import Response

from smart_auth import abuse, accounts, onetime, sessions, users
from smart_auth.endpoints import views
from smart_auth.errors import OAuthError
from smart_auth.http import form, layer, server_base
from smart_auth.templates import render

BIRTH_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
USED = "This link has already been used or has expired. You can ask for a new one."


def _birth_date(text: str) -> str | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if BIRTH_DATE.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None or day > date.today() or day.year < 1900:
        raise ValueError("Please enter your date of birth as it is on your documents (for example 1980-04-23).")
    return day.isoformat()


async def signup(request: Request) -> Response:
    """GET shows the form; POST creates a patient account and sends the confirmation link."""
    auth, base = layer(request), server_base(request)
    if not auth.config.patient_signup:
        return views.error("Creating an account here is not offered. Please ask your clinic for an invitation.",
                           404, "Sign-up is not available")
    rid = request.query_params.get("request", "")
    if request.method == "GET":
        return render("signup.html", base=base, request_id=rid, name="", email="", birthdate="", error=None)
    try:
        p = await form(request)
    except OAuthError as exc:
        return views.error(exc.description)
    name, email = " ".join(p.get("name", "").split())[:200], p.get("email", "").strip()
    again = {"base": base, "request_id": p.get("request", ""), "name": name, "email": email,
             "birthdate": p.get("birthdate", "")}
    try:
        if not name:
            raise ValueError("Please enter your name.")
        if not users.EMAIL.fullmatch(email):
            raise ValueError("Please enter a valid email address, like name@example.org.")
        birth = _birth_date(p.get("birthdate", ""))
        users.check_password_rules(p.get("password", ""), email)
    except ValueError as exc:
        return render("signup.html", 400, None, error=_sentence(str(exc)), **again)
    async with auth.server.pool.connection() as conn:
        existing = await users.by_email(conn, email)
        if existing is not None:  # answered like a new account, after as much work (no enumeration)
            await asyncio.to_thread(users.HASHER.hash, p["password"])
            await accounts.send_already_registered(auth, conn, base, existing)
        else:
            user = await accounts.new_patient_account(auth.server, conn, name, email, p["password"], birth, False)
            await accounts.send_verification(auth, conn, base, user)
    return views.message("Check your email", f"We have sent a message to {email}. Open the link in it to confirm "
                         "your address, then sign in.")


def _sentence(text: str) -> str:
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


async def verify(request: Request) -> Response:
    """GET shows a confirm button (mail scanners only GET); POST uses the link's token."""
    auth = layer(request)
    if request.method == "GET":
        token = request.query_params.get("token", "")
        async with auth.server.pool.connection() as conn:
            if await onetime.peek(conn, token, "verify") is None:
                return views.error(USED, 400, "This link cannot be used")
        return render("verify.html", base=server_base(request), token=token)
    try:
        p = await form(request)
    except OAuthError as exc:
        return views.error(exc.description)
    async with auth.server.pool.connection() as conn:
        username = await onetime.use(conn, p.get("token", ""), "verify")
        if username is None:
            return views.error(USED, 400, "This link cannot be used")
        await users.mark_verified(conn, username)
    return views.message("Email address confirmed", "Thank you. Your email address is confirmed and you can sign "
                         "in now.", link=f"{server_base(request)}/auth/account", link_text="Sign in")


async def forgot(request: Request) -> Response:
    """GET shows the form; POST sends a reset link when an account has that address (the answer is the same)."""
    auth, base = layer(request), server_base(request)
    if request.method == "GET":
        return render("forgot.html", base=base, request_id=request.query_params.get("request", ""))
    try:
        p = await form(request)
    except OAuthError as exc:
        return views.error(exc.description)
    email = p.get("email", "").strip()
    async with auth.server.pool.connection() as conn:
        user = await users.by_email(conn, email) if users.EMAIL.fullmatch(email) else None
        if user is not None and not user.disabled:
            await accounts.send_reset(auth, conn, base, user)
    return views.message("Check your email", "If an account uses this email address, we have sent it a link to "
                         "choose a new password. The link works once and expires in "
                         f"{views.minutes(auth.config.reset_seconds)}.")


async def reset(request: Request) -> Response:
    """GET shows the new-password form for a valid link; POST uses the link and sets the password."""
    auth, base = layer(request), server_base(request)
    if request.method == "GET":
        token = request.query_params.get("token", "")
        async with auth.server.pool.connection() as conn:
            if await onetime.peek(conn, token, "reset") is None:
                return views.error(USED, 400, "This link cannot be used")
        return render("reset.html", base=base, token=token, error=None)
    try:
        p = await form(request)
    except OAuthError as exc:
        return views.error(exc.description)
    token, password = p.get("token", ""), p.get("password", "")
    async with auth.server.pool.connection() as conn:
        username = await onetime.peek(conn, token, "reset")
        if username is None:
            return views.error(USED, 400, "This link cannot be used")
        user = await users.get_user(conn, username)
        try:
            users.check_password_rules(password, username, user.email if user else None)
        except ValueError as exc:
            return render("reset.html", 400, base=base, token=token, error=_sentence(str(exc)))
        if await onetime.use(conn, token, "reset") is None:
            return views.error(USED, 400, "This link cannot be used")
        await users.set_password(conn, username, password)
        await users.mark_verified(conn, username)  # the link reached the address
        await sessions.end_all(conn, username, auth.config.access_seconds)
        await abuse.succeeded(conn, abuse.ident_for("", username))
    return views.message("Password changed", "Your new password is saved. For your security, you have been signed "
                         "out everywhere.", link=f"{base}/auth/account", link_text="Sign in")
