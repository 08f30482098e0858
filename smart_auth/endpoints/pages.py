"""The user-facing steps of the SMART App Launch 2.x authorize flow: login, patient picker, consent.

An authorization request checked by ``authorize`` is carried on by its (unguessable) request id.
Login (password, then the second factor when due: ``signin``) opens a browser session (HttpOnly,
SameSite=Lax, Secure cookie); the request is then bound to that user, and the picker and consent
steps accept it only with the same session. Failed passwords count towards the account's lockout
(``abuse``). A standalone launch asking for ``launch/patient`` (or for patient scopes) gets the
patient picker, which lists only the patients the user may see (``picker``) — a patient account is
given its own record — and consent, listing the scopes in plain words (``wording``), issues the
single-use code (RFC 6749 §4.1.2) for the scopes left ticked, or, when refused, ``access_denied``.
The grant is recorded with the session, so signing out revokes it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.audit import annotate
from fhir_server.storage.repository import Conn
from smart_auth import abuse, grants, picker, sessions, users, wording
from smart_auth.endpoints import views
from smart_auth.errors import AccessDenied, OAuthError
from smart_auth.http import form, layer, redirect_with, server_base
from smart_auth.scopes import IDENTITY, LAUNCH, Scopes
from smart_auth.templates import render
from smart_auth.tokens import Grant
from smart_auth.users import User

Json = dict[str, Any]
COOKIE = sessions.COOKIE
NO_RECORD = "Your account is not linked to a patient record yet. Please contact your clinic."


async def _pending(conn: Conn, rid: str) -> Json:
    pending = await grants.load_request(conn, rid)
    if pending is None:
        raise LookupError("This sign-in request has expired or was already completed. Start again from the app.")
    return pending


async def _session_user(request: Request, conn: Conn, pending: Json) -> User:
    user = await sessions.session_user(conn, request.cookies.get(COOKIE))
    if user is None or user.username != pending.get("username"):
        raise LookupError("Your session does not match this request. Start again from the app.")
    return user


async def next_step(request: Request, rid: str, pending: Json, user: User | None,
                    cookie: str | None = None) -> Response:
    """The page the request needs next: login, patient picker or consent."""
    base = server_base(request)
    if user is None:
        return views.login_page(request, rid, pending)
    auth = layer(request)
    async with auth.server.pool.connection() as conn:
        pending["username"] = user.username
        own = await picker.own_patients(conn, user) if user.role == "patient" else []
        if pending["need_patient"] and len(own) == 1:
            pending["context"]["patient"] = own[0]
            pending["need_patient"] = False
        await grants.update_request(conn, rid, pending)
        if pending["need_patient"] and user.role == "patient" and not own:
            response = views.error(NO_RECORD, 403, "No patient record")
        elif pending["need_patient"]:
            response = await _picker(request, conn, rid, pending, user, "")
        else:
            chosen = pending["context"].get("patient")
            shown = await picker.patient_label(conn, chosen) if chosen else None
            response = _consent_page(base, rid, pending, user, shown)
    if cookie is not None:
        sessions.set_cookie(response, request, cookie, auth.config.online_seconds, auth.config.cookie_secure)
    return response


def _consent_page(base: str, rid: str, pending: Json, user: User, patient: str | None) -> Response:
    scopes = Scopes.parse(pending["scope"])
    shown = [{"value": o, "label": wording.describe_other(o)} for o in scopes.other if wording.describe_other(o)]
    shown += [{"value": s.text, "label": wording.describe(s)} for s in scopes.resources]
    return render("consent.html", base=base, request_id=rid, client=pending["client_name"], scopes=shown,
                  user=user.name or user.username, patient=patient)


async def _picker(request: Request, conn: Conn, rid: str, pending: Json, user: User, name: str) -> Response:
    auth = layer(request)
    base = server_base(request)
    patients = await picker.choices(auth.server, auth.compartments, conn, base, user, name)
    return render("picker.html", base=base, request_id=rid, client=pending["client_name"], patients=patients,
                  name=name)


async def login(request: Request) -> Response:
    try:
        p = await form(request)
    except OAuthError as exc:
        return render("error.html", 400, message=exc.description)
    rid = p.get("request", "")
    auth = layer(request)
    async with auth.server.pool.connection() as conn:
        pending = await grants.load_request(conn, rid) if rid else None
        if rid and pending is None:
            return render("error.html", 400, message="This sign-in request has expired. Start again from the app.")
        found = await users.find(conn, p.get("username", ""))
        ident = abuse.ident_for(p.get("username", ""), found[0].username if found else None)
        try:
            await abuse.check_locked(conn, ident)
        except abuse.TooMany as exc:
            return views.locked_login(request, rid, pending, exc.retry_after)
        user = await users.check_password(conn, p.get("username", ""), p.get("password", ""))
        annotate(username=p.get("username", "")[:200], user=user.fhir_user if user else None,
                 error=None if user else "unknown username or wrong password")
        if user is None:
            if await abuse.failed(conn, ident, auth.config):
                return views.locked_login(request, rid, pending, auth.config.lockout_seconds)
            return views.login_page(request, rid, pending, 401, views.WRONG)
        await abuse.succeeded(conn, ident)
        from smart_auth.endpoints.signin import after_primary

        return await after_primary(request, conn, rid, pending, user)


async def select(request: Request) -> Response:
    try:
        p = await form(request) if request.method == "POST" else dict(request.query_params)
    except OAuthError as exc:
        return render("error.html", 400, message=exc.description)
    rid = p.get("request", "")
    auth = layer(request)
    async with auth.server.pool.connection() as conn:
        try:
            pending = await _pending(conn, rid)
            user = await _session_user(request, conn, pending)
        except LookupError as exc:
            return render("error.html", 400, message=str(exc))
        if request.method == "GET":
            return await _picker(request, conn, rid, pending, user, p.get("name", "")[:100])
        chosen = p.get("patient", "")
        if not await picker.may_choose(auth.compartments, conn, user, chosen):
            return render("error.html", 400, message="Choose a patient from the list.")
        pending["context"]["patient"] = chosen
        pending["need_patient"] = False
    return await next_step(request, rid, pending, user)


async def consent(request: Request) -> Response:
    try:
        p = await form(request)
    except OAuthError as exc:
        return render("error.html", 400, message=exc.description)
    rid = p.get("request", "")
    auth = layer(request)
    async with auth.server.pool.connection() as conn:
        try:
            pending = await _pending(conn, rid)
            user = await _session_user(request, conn, pending)
        except LookupError as exc:
            return render("error.html", 400, message=str(exc))
        if pending["need_patient"]:
            return render("error.html", 400, message="Choose a patient first.")
        await grants.drop_request(conn, rid)
        if p.get("decision") != "allow":
            return redirect_with(pending["redirect_uri"],
                                 AccessDenied("the user refused access").to_query(pending["state"]))
        chosen = {v for k, v in p.items() if k.startswith("scope_")}
        offered = Scopes.parse(pending["scope"])
        granted = offered.only(lambda s: s.text in chosen,
                               other=tuple(o for o in offered.other if o in chosen or o in LAUNCH))
        if not granted.resources and not any(o in granted.other for o in IDENTITY):
            return redirect_with(pending["redirect_uri"],
                                 AccessDenied("no scope was allowed").to_query(pending["state"]))
        grant = Grant(grants.new_id(), pending["client_id"], granted, user.username, user.fhir_user,
                      pending["context"], pending.get("nonce"))
        data = {**grant.data(), "redirect_uri_param": pending["redirect_uri_param"]}
        code = await grants.save_code(conn, grant.grant_id, grant.client_id, pending["redirect_uri"],
                                      pending["challenge"], data, auth.config.code_seconds)
        await sessions.link_grant(conn, request.cookies.get(COOKIE), grant.grant_id, auth.config.refresh_seconds)
    return redirect_with(pending["redirect_uri"], {"code": code, "state": pending["state"]})
