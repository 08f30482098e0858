"""Server-rendered pages of the SMART App Launch 2.x authorize flow: login, patient picker, consent, error.

Jinja2 with autoescaping; the templates live here (not as package data files) so that an installed
wheel always has them. Every page is ``no-store`` and refuses to be framed (clickjacking).
"""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, select_autoescape
from starlette.responses import HTMLResponse

HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}Sign in{% endblock %} · FHIR server</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;color:#1d2330}
main{max-width:28rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin-top:0} label{display:block;margin:.8rem 0 .2rem}
input[type=text],input[type=password],input[type=search]{width:100%;padding:.5rem;box-sizing:border-box}
button{padding:.5rem 1.2rem;margin:1rem .5rem 0 0} .error{color:#9e2d2d} .muted{color:#667}
ul{padding-left:1.2rem} li{margin:.3rem 0}
</style></head><body><main>{% block body %}{% endblock %}</main></body></html>"""

_LOGIN = """{% extends "base.html" %}{% block body %}
<h1>Sign in</h1><p class="muted"><b>{{ client }}</b> asks to connect to this FHIR server.</p>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ base }}/auth/login">
<input type="hidden" name="request" value="{{ request_id }}">
<label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username" required>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>{% endblock %}"""

_PICKER = """{% extends "base.html" %}{% block title %}Choose a patient{% endblock %}{% block body %}
<h1>Choose a patient</h1><p class="muted"><b>{{ client }}</b> will work with this patient's record.</p>
<form method="get" action="{{ base }}/auth/select"><input type="hidden" name="request" value="{{ request_id }}">
<label for="name">Name</label><input type="search" id="name" name="name" value="{{ name }}">
<button type="submit">Search</button></form>
<form method="post" action="{{ base }}/auth/select"><input type="hidden" name="request" value="{{ request_id }}">
<ul>{% for p in patients %}<li><label><input type="radio" name="patient" value="{{ p.id }}" required>
{{ p.label }}</label></li>{% else %}<li class="muted">No patient found.</li>{% endfor %}</ul>
<button type="submit">Continue</button></form>{% endblock %}"""

_CONSENT = """{% extends "base.html" %}{% block title %}Allow access{% endblock %}{% block body %}
<h1>Allow {{ client }}?</h1>
<p class="muted">Signed in as {{ user }}{% if patient %}, for patient {{ patient }}{% endif %}.</p>
<form method="post" action="{{ base }}/auth/consent"><input type="hidden" name="request" value="{{ request_id }}">
<p>It asks to:</p><ul>{% for s in scopes %}<li><label><input type="checkbox" name="scope_{{ loop.index0 }}"
value="{{ s.value }}" checked> {{ s.label }}</label></li>{% endfor %}</ul>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></form>{% endblock %}"""

_ERROR = """{% extends "base.html" %}{% block title %}Error{% endblock %}{% block body %}
<h1>This request cannot be processed</h1><p class="error" role="alert">{{ message }}</p>{% endblock %}"""

ENV = Environment(
    loader=DictLoader({"base.html": _BASE, "login.html": _LOGIN, "picker.html": _PICKER, "consent.html": _CONSENT,
                       "error.html": _ERROR}),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def render(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(html, status, headers={**HEADERS, **(headers or {})})
