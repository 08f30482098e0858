"""Server-rendered pages of the SMART App Launch 2.x authorize flow: login, patient picker, consent, error.

Jinja2 with autoescaping; the templates live here (and in ``templates_account``) rather than as
package data files, so that an installed wheel always has them. Every page is ``no-store``, refuses
to be framed (clickjacking), loads nothing from elsewhere and works without JavaScript; every form
carries the request's CSRF token (``shield``). Pages follow WCAG 2.1 basics: a language, labelled
fields, errors announced with ``role="alert"``, visible focus, sufficient contrast.
"""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, select_autoescape
from starlette.responses import HTMLResponse

from smart_auth.shield import csrf_token
from smart_auth.templates_account import ACCOUNT_TEMPLATES

HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{{ title or "Sign in" }}{% endblock %} · FHIR server</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#eef1f5;margin:0;color:#1d2330;
line-height:1.5}
main{max-width:30rem;margin:3rem auto;background:#fff;padding:2rem 2.2rem;border-radius:10px;
box-shadow:0 2px 10px #0002}
h1{font-size:1.45rem;margin:0 0 .6rem} label{display:block;margin:.9rem 0 .25rem;font-weight:600}
input[type=text],input[type=password],input[type=search],input[type=email],input[type=date]{width:100%;
padding:.6rem;box-sizing:border-box;border:1px solid #8a93a3;border-radius:6px;font-size:1rem}
button,.button{display:inline-block;padding:.6rem 1.3rem;margin:1rem .5rem 0 0;border-radius:6px;border:1px solid
#1f4f8a;background:#1f5fa8;color:#fff;font-size:1rem;cursor:pointer;text-decoration:none}
button.secondary,.button.secondary{background:#fff;color:#1f4f8a}
:focus-visible{outline:3px solid #f2a900;outline-offset:2px}
.error{color:#8f1d1d;background:#fdecec;border-left:4px solid #b42525;padding:.6rem .8rem}
.notice{background:#eaf3fb;border-left:4px solid #1f5fa8;padding:.6rem .8rem}
.muted{color:#4f5868} ul.choices{list-style:none;padding-left:0} ul.choices li{margin:.5rem 0}
ul.choices label{font-weight:normal;display:flex;gap:.6rem;align-items:flex-start;margin:0}
.providers{border-top:1px solid #d5dae2;margin-top:1.4rem;padding-top:.4rem} .links{margin-top:1.2rem}
code.codes{display:block;font-size:1.1rem;line-height:1.9;white-space:pre} .qr{margin:.8rem 0}
</style></head><body><main>{% block body %}{% endblock %}</main></body></html>"""

CSRF = '<input type="hidden" name="csrf" value="{{ csrf }}">'

_LOGIN = """{% extends "base.html" %}{% block body %}
<h1>Sign in</h1>{% if client %}<p class="muted"><b>{{ client }}</b> asks to connect to your health record.</p>
{% endif %}{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ base }}/auth/login">""" + CSRF + """
<input type="hidden" name="request" value="{{ request_id }}">
<label for="username">Email or username</label><input type="text" id="username" name="username"
autocomplete="username" autocapitalize="none" spellcheck="false" required>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
{% if providers %}<div class="providers">{% for p in providers %}
<form method="get" action="{{ base }}/auth/oidc/start"><input type="hidden" name="provider" value="{{ p.key }}">
<input type="hidden" name="request" value="{{ request_id }}">
<button type="submit" class="secondary">Sign in with {{ p.name }}</button></form>{% endfor %}</div>{% endif %}
<p class="links"><a href="{{ base }}/auth/forgot?request={{ request_id }}">Forgot your password?</a>
{% if signup %} · <a href="{{ base }}/auth/signup?request={{ request_id }}">New patient? Create an account</a>
{% endif %}</p>{% endblock %}"""

_PICKER = """{% extends "base.html" %}{% block title %}Choose a patient{% endblock %}{% block body %}
<h1>Choose a patient</h1><p class="muted"><b>{{ client }}</b> will work with this patient's record.</p>
<form method="get" action="{{ base }}/auth/select"><input type="hidden" name="request" value="{{ request_id }}">
<label for="name">Search by name</label><input type="search" id="name" name="name" value="{{ name }}">
<button type="submit" class="secondary">Search</button></form>
<form method="post" action="{{ base }}/auth/select">""" + CSRF + """
<input type="hidden" name="request" value="{{ request_id }}">
<fieldset style="border:0;padding:0;margin:1rem 0 0"><legend class="muted">Patients you can see</legend>
<ul class="choices">{% for p in patients %}<li><label><input type="radio" name="patient" value="{{ p.id }}" required>
<span>{{ p.label }}</span></label></li>{% else %}<li class="muted">No patient found.</li>{% endfor %}</ul></fieldset>
<button type="submit">Continue</button></form>{% endblock %}"""

_CONSENT = """{% extends "base.html" %}{% block title %}Allow access{% endblock %}{% block body %}
<h1>Allow {{ client }}?</h1>
<p class="muted">Signed in as {{ user }}{% if patient %}, for the record of {{ patient }}{% endif %}.</p>
<form method="post" action="{{ base }}/auth/consent">""" + CSRF + """
<input type="hidden" name="request" value="{{ request_id }}">
<fieldset style="border:0;padding:0;margin:0"><legend>It asks to:</legend>
<p class="muted">Untick anything you do not want to share.</p>
<ul class="choices">{% for s in scopes %}<li><label><input type="checkbox" name="scope_{{ loop.index0 }}"
value="{{ s.value }}" checked> <span>{{ s.label }}</span></label></li>{% endfor %}</ul></fieldset>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button></form>{% endblock %}"""

_ERROR = """{% extends "base.html" %}{% block title %}{{ title or "Error" }}{% endblock %}{% block body %}
<h1>{{ title or "This request cannot be processed" }}</h1><p class="error" role="alert">{{ message }}</p>
{% endblock %}"""

ENV = Environment(
    loader=DictLoader({"base.html": _BASE, "login.html": _LOGIN, "picker.html": _PICKER, "consent.html": _CONSENT,
                       "error.html": _ERROR, **ACCOUNT_TEMPLATES}),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def render(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    context.setdefault("csrf", csrf_token())
    context.setdefault("title", None)
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(html, status, headers={**HEADERS, **(headers or {})})
