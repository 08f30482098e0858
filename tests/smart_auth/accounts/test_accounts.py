"""Accounts over HTTP and the CLI: the admin API (create, invite, list, turn off and on), ``fhir-server users
add|list|disable|enable``, patient sign-up with email confirmation, and password reset by a single-use,
expiring link (OWASP Forgot Password Cheat Sheet); mail by the log sender and by SMTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from smart_auth import onetime, users
from smart_auth.config import SmtpSettings
from smart_auth.mail import Mail, SmtpMailer
from tests.conftest import LiveServer
from tests.smart_auth.accounts.helpers import hidden, link_in, login, mails, start
from tests.smart_auth.conftest import (
    ADMIN,
    PASSWORD,
    REDIRECT,
    add_user,
    bearer,
    forms,
    redirect_params,
    run_db,
    token,
    token_request,
)
from tests.smart_auth.fakes.serve import SmtpServer

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
NEW_PASSWORD = "a brand new passphrase"


def _admin_api(acct: LiveServer, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{acct.base}/auth/admin/users", json=body, headers=ADMIN_HEADERS if headers is None else headers)


def _sign_in(acct: LiveServer, app: dict[str, str], username: str, password: str = PASSWORD) -> dict[str, str]:
    """A full standalone launch for a patient account (no picker: its own record); the token response."""
    browser, page, verifier, _ = start(acct, app["client_id"])
    page = login(browser, page, username, password)
    back = redirect_params(browser.consent(page))
    resp = token_request(acct, {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                                "client_id": app["client_id"], "code_verifier": verifier})
    assert resp.status_code == 200, resp.text
    body: dict[str, str] = resp.json()
    return body


def test_admin_api_creates_invites_lists_and_turns_off(acct: LiveServer, app: dict[str, str]) -> None:
    body = {"email": "dr.lee@clinic.example.org", "name": "Dr Lee", "role": "practitioner",
            "fhirUser": "Practitioner/lee", "password": PASSWORD}
    assert _admin_api(acct, body, {}).status_code == 401
    assert _admin_api(acct, body, {"Authorization": "Bearer nope"}).status_code == 401
    created = _admin_api(acct, body)
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "practitioner" and created.json()["fhirUser"] == "Practitioner/lee"
    assert _admin_api(acct, {**body, "username": created.json()["username"]}).status_code == 400
    for bad in ({**body, "role": "superuser"}, {**body, "email": "not-an-email"}, {**body, "fhirUser": "Nope/1"},
                {**body, "password": "short"}, {"name": "no email"}, {**body, "emailVerified": "yes"}):
        assert _admin_api(acct, {**bad, "email": bad.get("email", "x") + "1"}).status_code == 400, bad
    # a patient invited without a password: the invitation link sets it (and confirms the address)
    pat = httpx.post(f"{acct.base}/Patient", json={"resourceType": "Patient", "name": [{"family": "Invited"}]},
                     headers=bearer(_system_token(acct))).json()
    invited = _admin_api(acct, {"email": "invited@example.org", "name": "Ina Invited", "role": "patient",
                                "fhirUser": f"Patient/{pat['id']}"}).json()
    link = link_in(mails(acct, "invited@example.org")[-1], "reset")
    client = httpx.Client()
    form = client.get(link)
    assert form.status_code == 200 and "Choose a new password" in form.text

    action = forms(form.text)[-1]["action"]
    assert client.post(action, data={**hidden(form), "password": NEW_PASSWORD}).status_code == 200
    tokens = _sign_in(acct, app, "invited@example.org", NEW_PASSWORD)  # sign in with the email
    assert tokens["patient"] == pat["id"]
    listed = httpx.get(f"{acct.base}/auth/admin/users", headers=ADMIN_HEADERS).json()["users"]
    assert {"Ina Invited", "Dr Lee"} <= {u["name"] for u in listed}
    # turning the account off ends its sessions and revokes the tokens issued under them
    read = f"{acct.base}/Patient/{pat['id']}"
    assert httpx.get(read, headers=bearer(tokens["access_token"])).status_code == 200
    off = httpx.post(f"{acct.base}/auth/admin/users/{invited['username']}/disable", headers=ADMIN_HEADERS)
    assert off.status_code == 200 and off.json()["disabled"] is True
    assert httpx.get(read, headers=bearer(tokens["access_token"])).status_code == 401
    browser, page, _, _ = start(acct, app["client_id"])
    refused = login(browser, page, "invited@example.org", NEW_PASSWORD)
    assert refused.status_code == 403 and "turned off" in refused.text
    assert httpx.post(f"{acct.base}/auth/admin/users/{invited['username']}/enable",
                      headers=ADMIN_HEADERS).status_code == 200
    _sign_in(acct, app, "invited@example.org", NEW_PASSWORD)
    assert httpx.post(f"{acct.base}/auth/admin/users/nobody/disable", headers=ADMIN_HEADERS).status_code == 404


def _system_token(acct: LiveServer) -> str:
    return token(acct, "system/*.cruds")


def test_admin_accounts_may_use_the_api_others_may_not(acct: LiveServer) -> None:

    boss = add_user(acct, "Practitioner/boss")
    run_db(acct, lambda conn: users.add_user(conn, boss, PASSWORD, "Practitioner/boss", "Boss", role="admin"))
    doc = add_user(acct, "Practitioner/doc")
    as_admin = {"Authorization": f"Bearer {token(acct, 'user/*.rs', user=boss)}"}
    as_doc = {"Authorization": f"Bearer {token(acct, 'user/*.rs', user=doc)}"}
    assert httpx.get(f"{acct.base}/auth/admin/users", headers=as_admin).status_code == 200
    assert httpx.get(f"{acct.base}/auth/admin/users", headers=as_doc).status_code == 403


def test_users_cli(acct: LiveServer) -> None:
    env = {**os.environ, "DATABASE_URL": acct.db.url}
    env.pop("FHIR_AUTH_DISABLED", None)

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "fhir_server.cli", "users", *args], capture_output=True,
                              text=True, timeout=300, env=env, input=stdin)

    added = cli("add", "nurse.joy", "--email", "joy@clinic.example.org", "--role", "practitioner", "--name",
                "Nurse Joy", "--fhir-user", "Practitioner/joy", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert cli("add", "bad", "--role", "king", stdin=PASSWORD + "\n").returncode == 2
    assert cli("add", "short", stdin="short\n").returncode == 2
    listed = cli("list")
    line = next(x for x in listed.stdout.splitlines() if x.startswith("nurse.joy\t"))
    assert line.split("\t")[1:4] == ["practitioner", "joy@clinic.example.org", "Practitioner/joy"]
    assert line.endswith("active\tno-mfa")
    assert cli("disable", "nurse.joy").returncode == 0
    assert "disabled" in next(x for x in cli("list").stdout.splitlines() if x.startswith("nurse.joy\t"))
    assert cli("enable", "nurse.joy").returncode == 0
    assert cli("disable", "nobody-at-all").returncode == 2


def test_patient_sign_up_confirm_email_then_sign_in(acct: LiveServer, app: dict[str, str], auth: LiveServer) -> None:
    assert httpx.get(f"{auth.base}/auth/signup").status_code == 404  # off unless FHIR_AUTH_PATIENT_SIGNUP=1
    client = httpx.Client()
    page = client.get(f"{acct.base}/auth/signup")
    assert page.status_code == 200 and "Create your patient account" in page.text
    form = {"name": "Pat Signup", "email": "pat.signup@example.org", "birthdate": "1985-06-01", "password": PASSWORD}
    bad = post_form_client(client, page, {**form, "birthdate": "2999-01-01"})
    assert bad.status_code == 400 and "date of birth" in bad.text
    assert post_form_client(client, page, {**form, "password": "short"}).status_code == 400
    done = post_form_client(client, page, form)
    assert done.status_code == 200 and "Check your email" in done.text
    # signing in before confirming is refused (after the right password) and sends a fresh link
    browser, login_page, _, _ = start(acct, app["client_id"])
    early = login(browser, login_page, "pat.signup@example.org")
    assert early.status_code == 403 and "confirm your email" in early.text
    sent = mails(acct, "pat.signup@example.org")
    assert len(sent) == 2 and sent[0].subject == "Confirm your email address"
    link = link_in(sent[-1], "verify")
    confirm = client.get(link)  # a GET only shows the button: mail scanners do not confirm
    assert confirm.status_code == 200 and "Confirm my email address" in confirm.text
    assert post_form_client(client, confirm, {}).status_code == 200
    assert post_form_client(client, confirm, {}).status_code == 400  # single use
    tokens = _sign_in(acct, app, "pat.signup@example.org")
    patient = httpx.get(f"{acct.base}/Patient/{tokens['patient']}", headers=bearer(tokens["access_token"])).json()
    assert patient["name"][0]["family"] == "Signup" and patient["birthDate"] == "1985-06-01"
    assert patient["telecom"] == [{"system": "email", "value": "pat.signup@example.org"}]
    # signing up again with the same address answers the same, and tells the owner by email instead
    again = post_form_client(client, client.get(f"{acct.base}/auth/signup"), form)
    assert again.status_code == 200 and again.text == done.text
    assert mails(acct, "pat.signup@example.org")[-1].subject == "You already have an account"


def post_form_client(client: httpx.Client, page: httpx.Response, values: dict[str, str]) -> httpx.Response:
    return client.post(forms(page.text)[-1]["action"], data={**hidden(page), **values})


def test_password_reset_link_is_single_use_and_expires(acct: LiveServer, app: dict[str, str]) -> None:

    name = add_user(acct, "Practitioner/forgetful")
    run_db(acct, lambda conn: users.add_user(conn, name, PASSWORD, "Practitioner/forgetful", "Forgetful",
                                             email=f"{name}@example.org", email_verified=True))
    client = httpx.Client()
    forgot = client.get(f"{acct.base}/auth/forgot")
    unknown = post_form_client(client, forgot, {"email": "nobody@example.org"})
    known = post_form_client(client, forgot, {"email": f"{name}@example.org"})
    assert unknown.status_code == known.status_code == 200 and unknown.text == known.text  # no enumeration
    assert mails(acct, "nobody@example.org") == []
    link = link_in(mails(acct, f"{name}@example.org")[-1], "reset")
    # a session open before the reset ends with it
    browser, page, _, _ = start(acct, app["client_id"])
    login(browser, page, name)
    assert "Your account" in browser.http.get(f"{acct.base}/auth/account").text
    form = client.get(link)
    assert post_form_client(client, form, {"password": "short"}).status_code == 400  # link still good after that
    assert post_form_client(client, form, {"password": NEW_PASSWORD}).status_code == 200
    used = post_form_client(client, form, {"password": "yet another passphrase"})
    assert used.status_code == 400 and "already been used" in used.text
    assert client.get(link).status_code == 400
    assert "Sign in" in browser.http.get(f"{acct.base}/auth/account").text  # signed out everywhere
    browser, page, _, _ = start(acct, app["client_id"])
    assert login(browser, page, name).status_code == 401  # the old password
    browser, page, _, _ = start(acct, app["client_id"])
    assert login(browser, page, name, NEW_PASSWORD).status_code == 200
    expired = run_db(acct, lambda conn: onetime.issue(conn, name, "reset", -1))
    assert client.get(f"{acct.base}/auth/reset", params={"token": expired}).status_code == 400


@pytest.fixture()
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def test_smtp_sender_delivers(smtp: SmtpServer) -> None:

    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=smtp.port, sender="clinic@example.org", starttls=False))
    asyncio.run(mailer.send(Mail("pat@example.org", "Reset your password", "Open http://x/auth/reset?token=abc\n")))
    assert len(smtp.messages) == 1
    sender, recipients, message = smtp.messages[0]
    assert sender == "<clinic@example.org>" and recipients == ["<pat@example.org>"]
    assert message["Subject"] == "Reset your password" and message["To"] == "pat@example.org"
    assert "token=abc" in message.get_payload()
