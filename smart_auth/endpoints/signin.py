"""Sign-in after the first factor (OpenID Connect Core §3.1.2.3; RFC 6238 TOTP as the second factor;
OpenID Connect RP-Initiated Logout 1.0 "end the session").

After the password (or the identity provider) a person is either done, or has a partial session
that must pass two-step verification: the TOTP code of an enrolled authenticator (or a recovery
code), or — when the account's role requires it and none is enrolled yet — enrolment first. Wrong
codes count towards the account's lockout like wrong passwords. Then the authorize flow goes on
(``pages.next_step``) or, for a sign-in without an app, the account page opens. Sign-out ends the
session and revokes every grant issued under it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fhir_server.storage.repository import Conn
from smart_auth import abuse, accounts, grants, mfa, sessions
from smart_auth.endpoints import pages, views
from smart_auth.errors import OAuthError
from smart_auth.http import form, layer, server_base
from smart_auth.templates import render
from smart_auth.users import User

Json = dict[str, Any]


async def after_primary(request: Request, conn: Conn, rid: str, pending: Json | None, user: User) -> Response:
    """The first factor was right: refuse, ask for the second factor, or sign in."""
    auth = layer(request)
    config = auth.config
    if user.disabled:
        return views.error("This account has been turned off. Please contact your clinic.", 403,
                           "You cannot sign in")
    if user.role == "patient" and user.email and not user.email_verified:
        await accounts.send_verification(auth, conn, server_base(request), user)
        return views.message("Please confirm your email address", f"Before you can sign in, please confirm your "
                             f"email address. We have sent a new link to {user.email}.", 403)
    if not user.mfa and user.role not in config.mfa_roles:
        sid = await sessions.open_session(conn, user.username, config.online_seconds)
        return await continue_flow(request, rid, pending, user, sid)
    sid = await sessions.open_session(conn, user.username, config.step_seconds, complete=False)
    if user.mfa:
        response = _mfa_page(request, rid)
    else:
        secret = mfa.new_secret()
        await sessions.set_pending_secret(conn, sid, secret)
        response = _enrol_page(request, rid, user, secret, required=True)
    sessions.set_cookie(response, request, sid, config.step_seconds, config.cookie_secure)
    return response


async def continue_flow(request: Request, rid: str, pending: Json | None, user: User, sid: str | None) -> Response:
    """Signed in: back to the authorize flow, or to the account page."""
    if pending is not None:
        return await pages.next_step(request, rid, pending, user, cookie=sid)
    response = RedirectResponse(f"{server_base(request)}/auth/account", 303)
    if sid is not None:
        config = layer(request).config
        sessions.set_cookie(response, request, sid, config.online_seconds, config.cookie_secure)
    return response


def _mfa_page(request: Request, rid: str, status: int = 200, error: str | None = None,
              headers: dict[str, str] | None = None) -> Response:
    return render("mfa.html", status, headers, base=server_base(request), request_id=rid, error=error)


def _enrol_page(request: Request, rid: str, user: User, secret: str, required: bool = False, status: int = 200,
                error: str | None = None) -> Response:
    uri = mfa.uri(secret, user.email or user.username)
    return render("enrol.html", status, base=server_base(request), request_id=rid, qr=mfa.qr_svg(uri),
                  secret=mfa.grouped(secret), required=required, error=error)


async def _params(request: Request) -> tuple[dict[str, str], str, Json | None] | Response:
    try:
        p = await form(request)
    except OAuthError as exc:
        return views.error(exc.description)
    rid = p.get("request", "")
    async with layer(request).server.pool.connection() as conn:
        pending = await grants.load_request(conn, rid) if rid else None
    if rid and pending is None:
        return views.error("This sign-in request has expired. Start again from the app.")
    return p, rid, pending


async def second_factor(request: Request) -> Response:
    """POST /auth/mfa: the TOTP code (or a recovery code) of a partial session."""
    parsed = await _params(request)
    if isinstance(parsed, Response):
        return parsed
    p, rid, pending = parsed
    auth = layer(request)
    sid = sessions.cookie(request)
    async with auth.server.pool.connection() as conn:
        state = await sessions.partial(conn, sid)
        if state is None or sid is None or not state.user.mfa:
            return views.error("Your sign-in has expired. Please sign in again.", 400)
        ident = abuse.ident_for("", state.user.username)
        try:
            await abuse.check_locked(conn, ident)
        except abuse.TooMany as exc:
            return _mfa_page(request, rid, 429, views.locked_text(exc.retry_after),
                             {"Retry-After": str(exc.retry_after)})
        code = p.get("code", "")
        if not (await mfa.accept(conn, state.user.username, code)
                or await mfa.use_recovery_code(conn, state.user.username, code)):
            if await abuse.failed(conn, ident, auth.config):
                return _mfa_page(request, rid, 429, views.locked_text(auth.config.lockout_seconds),
                                 {"Retry-After": str(auth.config.lockout_seconds)})
            return _mfa_page(request, rid, 401, error="That code is not right. Check the code in your app (it "
                                                      "changes every 30 seconds) and try again.")
        await abuse.succeeded(conn, ident)
        new_sid = await sessions.complete(conn, sid, state.user.username, auth.config.online_seconds)
    return await continue_flow(request, rid, pending, state.user, new_sid)


async def enrol(request: Request) -> Response:
    """POST /auth/mfa/enrol: the first code from the newly scanned authenticator."""
    parsed = await _params(request)
    if isinstance(parsed, Response):
        return parsed
    p, rid, _ = parsed
    auth = layer(request)
    sid = sessions.cookie(request)
    async with auth.server.pool.connection() as conn:
        state = await sessions.any_session(conn, sid)
        if state is None or sid is None or state[2] is None:
            return views.error("Your sign-in has expired. Please sign in again.", 400)
        user, complete, secret = state[0], state[1], state[2]
        step = mfa.matching_step(secret, p.get("code", ""))
        if step is None:
            return _enrol_page(request, rid, user, secret, not complete, 401,
                               "That code is not right. Enter the 6-digit code your app shows now.")
        codes = await mfa.enrol(conn, user.username, secret, step)
        new_sid = await sessions.complete(conn, sid, user.username, auth.config.online_seconds)
    response = render("recovery.html", base=server_base(request), request_id=rid, codes=codes)
    sessions.set_cookie(response, request, new_sid, auth.config.online_seconds, auth.config.cookie_secure)
    return response


async def setup(request: Request) -> Response:
    """POST /auth/mfa/setup: a signed-in person turns on two-step verification from the account page."""
    auth = layer(request)
    sid = sessions.cookie(request)
    async with auth.server.pool.connection() as conn:
        user = await sessions.session_user(conn, sid)
        if user is None or sid is None:
            return views.login_page(request, "", None)
        secret = mfa.new_secret()
        await sessions.set_pending_secret(conn, sid, secret)
    return _enrol_page(request, "", user, secret)


async def proceed(request: Request) -> Response:
    """POST /auth/continue: after the recovery codes were shown."""
    parsed = await _params(request)
    if isinstance(parsed, Response):
        return parsed
    _, rid, pending = parsed
    async with layer(request).server.pool.connection() as conn:
        user = await sessions.session_user(conn, sessions.cookie(request))
    if user is None:
        return views.login_page(request, rid, pending)
    return await continue_flow(request, rid, pending, user, None)


async def account(request: Request) -> Response:
    """GET /auth/account: who is signed in (or the sign-in form)."""
    async with layer(request).server.pool.connection() as conn:
        user = await sessions.session_user(conn, sessions.cookie(request))
    if user is None:
        return views.login_page(request, "", None)
    return render("account.html", base=server_base(request), user=user)


async def logout(request: Request) -> Response:
    """GET /auth/logout asks; POST ends the session and revokes the tokens issued under it."""
    auth = layer(request)
    if request.method == "GET":
        return render("logout.html", base=server_base(request))
    async with auth.server.pool.connection() as conn:
        await sessions.end(conn, sessions.cookie(request), auth.config.access_seconds)
    response = views.message("You have signed out", "You have signed out, and apps you allowed during this "
                             "sign-in can no longer use your record.", link=f"{server_base(request)}/auth/account",
                             link_text="Sign in again")
    sessions.clear_cookie(response, auth.config.cookie_secure)
    return response
