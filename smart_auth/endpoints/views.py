"""Pages shared by the sign-in steps (SMART App Launch 2.x authorize flow; OWASP Authentication Cheat
Sheet "authentication responses"): the login page with its federated sign-in buttons, and the
messages a person sees when sign-in is paused or refused — in plain words, never telling whether an
account exists.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from smart_auth.http import layer, server_base
from smart_auth.templates import render

Json = dict[str, Any]
WRONG = "We could not sign you in: unknown email or username, or wrong password. Please try again."


def minutes(seconds: int) -> str:
    n = max(1, round(seconds / 60))
    return f"{n} minute{'s' if n != 1 else ''}"


def locked_text(seconds: int) -> str:
    return (f"Too many failed attempts. To protect the account, signing in is paused for {minutes(seconds)}. "
            "If you have forgotten your password, you can reset it.")


def login_page(request: Request, rid: str, pending: Json | None, status: int = 200, error: str | None = None,
               headers: dict[str, str] | None = None) -> Response:
    config = layer(request).config
    return render("login.html", status, headers, base=server_base(request), request_id=rid,
                  client=pending["client_name"] if pending else None, error=error,
                  providers=[{"key": p.key, "name": p.name} for p in config.oidc], signup=config.patient_signup)


def locked_login(request: Request, rid: str, pending: Json | None, seconds: int) -> Response:
    return login_page(request, rid, pending, 429, locked_text(seconds), {"Retry-After": str(seconds)})


def message(title: str, text: str, status: int = 200, link: str | None = None, link_text: str = "") -> Response:
    return render("message.html", status, title=title, message=text, link=link, link_text=link_text)


def error(text: str, status: int = 400, title: str | None = None) -> Response:
    return render("error.html", status, message=text, title=title)
