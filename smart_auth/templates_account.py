"""Account pages (OWASP Authentication / Forgot Password / MFA cheat sheets as to what they say and do not
say): two-step verification and its enrolment, recovery codes, account, sign-out, patient sign-up,
email confirmation, forgotten and new password, and a plain message page.

Messages never tell whether an account exists; every form carries the CSRF token.
"""

from __future__ import annotations

CSRF = '<input type="hidden" name="csrf" value="{{ csrf }}">'
REQUEST = '<input type="hidden" name="request" value="{{ request_id }}">'

_MFA = """{% extends "base.html" %}{% block title %}Two-step verification{% endblock %}{% block body %}
<h1>Two-step verification</h1>{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ base }}/auth/mfa">""" + CSRF + REQUEST + """
<label for="code">Enter the 6-digit code from your authenticator app</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required
aria-describedby="code-help"><p id="code-help" class="muted">Lost your phone? Enter one of your recovery codes
instead.</p><button type="submit">Verify</button></form>{% endblock %}"""

_ENROL = """{% extends "base.html" %}{% block title %}Set up two-step verification{% endblock %}{% block body %}
<h1>Set up two-step verification</h1>{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<p>{% if required %}Your account needs a second step when you sign in. {% endif %}Scan this code with an
authenticator app (for example Google Authenticator, Microsoft Authenticator or FreeOTP).</p>
<div class="qr">{{ qr | safe }}</div>
<p class="muted">Can't scan it? Type this key into the app: <code id="secret">{{ secret }}</code></p>
<form method="post" action="{{ base }}/auth/mfa/enrol">""" + CSRF + REQUEST + """
<label for="code">Enter the 6-digit code the app shows</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required>
<button type="submit">Turn on two-step verification</button></form>{% endblock %}"""

_RECOVERY = """{% extends "base.html" %}{% block title %}Your recovery codes{% endblock %}{% block body %}
<h1>Two-step verification is on</h1>
<p>Keep these recovery codes somewhere safe. Each one lets you sign in once if you lose your phone. They
will not be shown again.</p><code class="codes" id="recovery-codes">{% for c in codes %}{{ c }}
{% endfor %}</code>
<form method="post" action="{{ base }}/auth/continue">""" + CSRF + REQUEST + """
<button type="submit">I have saved them — continue</button></form>{% endblock %}"""

_ACCOUNT = """{% extends "base.html" %}{% block title %}Your account{% endblock %}{% block body %}
<h1>Your account</h1>{% if notice %}<p class="notice" role="status">{{ notice }}</p>{% endif %}
<dl><dt class="muted">Name</dt><dd>{{ user.name or user.username }}</dd>
{% if user.email %}<dt class="muted">Email</dt><dd>{{ user.email }}</dd>{% endif %}
<dt class="muted">Two-step verification</dt><dd>{{ "On" if user.mfa else "Off" }}</dd></dl>
{% if not user.mfa %}<form method="post" action="{{ base }}/auth/mfa/setup">""" + CSRF + """
<button type="submit" class="secondary">Set up two-step verification</button></form>{% endif %}
<form method="post" action="{{ base }}/auth/logout">""" + CSRF + """
<button type="submit">Sign out</button></form>{% endblock %}"""

_LOGOUT = """{% extends "base.html" %}{% block title %}Sign out{% endblock %}{% block body %}
<h1>Sign out?</h1><p>Apps you allowed during this sign-in will lose their access.</p>
<form method="post" action="{{ base }}/auth/logout">""" + CSRF + """
<button type="submit">Sign out</button></form>{% endblock %}"""

_MESSAGE = """{% extends "base.html" %}{% block title %}{{ title }}{% endblock %}{% block body %}
<h1>{{ title }}</h1><p class="notice" role="status">{{ message }}</p>
{% if link %}<p><a class="button" href="{{ link }}">{{ link_text }}</a></p>{% endif %}{% endblock %}"""

_SIGNUP = """{% extends "base.html" %}{% block title %}Create your account{% endblock %}{% block body %}
<h1>Create your patient account</h1>{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ base }}/auth/signup">""" + CSRF + REQUEST + """
<label for="name">Your full name</label><input type="text" id="name" name="name" autocomplete="name" required
value="{{ name }}"><label for="email">Email address</label><input type="email" id="email" name="email"
autocomplete="email" required value="{{ email }}">
<label for="birthdate">Date of birth</label><input type="date" id="birthdate" name="birthdate" autocomplete="bday"
value="{{ birthdate }}"><label for="password">Choose a password</label>
<input type="password" id="password" name="password" autocomplete="new-password" minlength="8" required
aria-describedby="pw-help"><p id="pw-help" class="muted">At least 8 characters. A few words you will remember
make a good password.</p><button type="submit">Create account</button></form>{% endblock %}"""

_FORGOT = """{% extends "base.html" %}{% block title %}Forgot your password?{% endblock %}{% block body %}
<h1>Forgot your password?</h1><p>Enter the email address of your account. We will send you a link to choose
a new password.</p><form method="post" action="{{ base }}/auth/forgot">""" + CSRF + REQUEST + """
<label for="email">Email address</label><input type="email" id="email" name="email" autocomplete="email" required>
<button type="submit">Send me a link</button></form>{% endblock %}"""

_RESET = """{% extends "base.html" %}{% block title %}Choose a new password{% endblock %}{% block body %}
<h1>Choose a new password</h1>{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ base }}/auth/reset">""" + CSRF + """
<input type="hidden" name="token" value="{{ token }}">
<label for="password">New password</label><input type="password" id="password" name="password"
autocomplete="new-password" minlength="8" required aria-describedby="pw-help">
<p id="pw-help" class="muted">At least 8 characters.</p>
<button type="submit">Save my new password</button></form>{% endblock %}"""

_VERIFY = """{% extends "base.html" %}{% block title %}Confirm your email address{% endblock %}{% block body %}
<h1>Confirm your email address</h1><form method="post" action="{{ base }}/auth/verify">""" + CSRF + """
<input type="hidden" name="token" value="{{ token }}">
<button type="submit">Confirm my email address</button></form>{% endblock %}"""

ACCOUNT_TEMPLATES = {
    "mfa.html": _MFA, "enrol.html": _ENROL, "recovery.html": _RECOVERY, "account.html": _ACCOUNT,
    "logout.html": _LOGOUT, "message.html": _MESSAGE, "signup.html": _SIGNUP, "forgot.html": _FORGOT,
    "reset.html": _RESET, "verify.html": _VERIFY,
}
