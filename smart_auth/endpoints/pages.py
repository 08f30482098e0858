"""The user-facing steps of the SMART App Launch 2.x authorize flow: login, patient picker, consent.

An authorization request checked by ``authorize`` is carried on by its (unguessable) request id.
Login opens a browser session (HttpOnly, SameSite=Lax cookie); the request is then bound to that
user, and the picker and consent steps accept it only with the same session. A standalone launch
asking for ``launch/patient`` (or for patient scopes) gets the patient picker — a Patient user is
given their own record — and consent issues the single-use code (RFC 6749 §4.1.2) or, when
refused, ``access_denied``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fhir_server.interactions import search
from fhir_server.storage import repository
from fhir_server.storage.repository import Conn
from smart_auth import grants, users
from smart_auth.errors import AccessDenied, OAuthError
from smart_auth.http import form, layer, redirect_with, server_base
from smart_auth.scopes import IDENTITY, LAUNCH, Scopes
from smart_auth.templates import render
from smart_auth.tokens import Grant
from smart_auth.users import User

Json = dict[str, Any]
COOKIE = "smart_session"
LABELS = {"openid": "Know who you are (OpenID Connect)", "fhirUser": "Know your FHIR user record",
          "profile": "Read your profile", "offline_access": "Keep access when you are offline (refresh token)",
          "online_access": "Keep access while you are signed in (refresh token)"}
VERBS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


def _label(scope: Any) -> str:
    verbs = ", ".join(VERBS[c] for c in "cruds" if c in scope.perms)
    what = "all data" if scope.res_type == "*" else f"{scope.res_type} resources"
    whose = {"patient": "of the selected patient", "user": "you can access", "system": ""}[scope.context]
    query = f" where {'&'.join(f'{k}={v}' for k, v in scope.query)}" if scope.query else ""
    return f"{verbs.capitalize()} {what} {whose}{query}".strip()


async def _pending(conn: Conn, rid: str) -> Json:
    pending = await grants.load_request(conn, rid)
    if pending is None:
        raise LookupError("This sign-in request has expired or was already completed. Start again from the app.")
    return pending


async def _session_user(request: Request, conn: Conn, pending: Json) -> User:
    user = await users.session_user(conn, request.cookies.get(COOKIE))
    if user is None or user.username != pending.get("username"):
        raise LookupError("Your session does not match this request. Start again from the app.")
    return user


async def next_step(request: Request, rid: str, pending: Json, user: User | None,
                    cookie: str | None = None) -> Response:
    """The page the request needs next: login, patient picker or consent."""
    base = server_base(request)
    client = pending["client_name"]
    if user is None:
        return render("login.html", base=base, request_id=rid, client=client, error=None)
    auth = layer(request)
    async with auth.server.pool.connection() as conn:
        pending["username"] = user.username
        if pending["need_patient"] and (user.fhir_user or "").startswith("Patient/"):
            pending["context"]["patient"] = user.fhir_user.split("/", 1)[1]  # type: ignore[union-attr]
            pending["need_patient"] = False
        await grants.update_request(conn, rid, pending)
        if pending["need_patient"]:
            response = await _picker(request, conn, rid, pending, "")
        else:
            response = _consent_page(base, rid, pending, user)
    if cookie is not None:
        response.set_cookie(COOKIE, cookie, max_age=auth.config.online_seconds, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/auth")
    return response


def _consent_page(base: str, rid: str, pending: Json, user: User) -> Response:
    scopes = Scopes.parse(pending["scope"])
    shown = [{"value": o, "label": LABELS[o]} for o in scopes.other if o in LABELS]
    shown += [{"value": s.text, "label": _label(s)} for s in scopes.resources]
    return render("consent.html", base=base, request_id=rid, client=pending["client_name"], scopes=shown,
                  user=user.name or user.username, patient=pending["context"].get("patient"))


async def _picker(request: Request, conn: Conn, rid: str, pending: Json, name: str) -> Response:
    server = layer(request).server
    base = server_base(request)
    params = [("_count", "50"), ("_elements", "name,birthDate")] + ([("name", name)] if name else [])
    bundle = await search.search(server, conn, base, "Patient", params)
    patients = []
    for entry in bundle.get("entry", []):
        res = entry.get("resource")
        if isinstance(res, dict) and res.get("resourceType") == "Patient":
            names = res.get("name") or [{}]
            first = names[0] if isinstance(names[0], dict) else {}
            label = " ".join([*first.get("given", []), first.get("family", "")]).strip() or res["id"]
            patients.append({"id": res["id"], "label": f"{label} ({res.get('birthDate', 'birth date unknown')})"})
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
        pending = await grants.load_request(conn, rid)
        if pending is None:
            return render("error.html", 400, message="This sign-in request has expired. Start again from the app.")
        user = await users.check_password(conn, p.get("username", ""), p.get("password", ""))
        if user is None:
            return render("login.html", 401, base=server_base(request), request_id=rid, client=pending["client_name"],
                          error="Unknown username or wrong password.")
        sid = await users.open_session(conn, user.username, auth.config.online_seconds)
    return await next_step(request, rid, pending, user, cookie=sid)


async def select(request: Request) -> Response:
    try:
        p = await form(request) if request.method == "POST" else dict(request.query_params)
    except OAuthError as exc:
        return render("error.html", 400, message=exc.description)
    rid = p.get("request", "")
    async with layer(request).server.pool.connection() as conn:
        try:
            pending = await _pending(conn, rid)
            user = await _session_user(request, conn, pending)
        except LookupError as exc:
            return render("error.html", 400, message=str(exc))
        if request.method == "GET":
            return await _picker(request, conn, rid, pending, p.get("name", "")[:100])
        chosen = p.get("patient", "")
        row = await repository.read(conn, "Patient", chosen) if chosen and len(chosen) <= 64 else None
        if row is None or row.deleted:
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
    return redirect_with(pending["redirect_uri"], {"code": code, "state": pending["state"]})
