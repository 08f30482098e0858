"""Two-step verification with TOTP (RFC 6238) over HTTP: enrolment with a QR code, required per role, a code
after the password, no code accepted twice, recovery codes good once, wrong codes count to the lockout."""

from __future__ import annotations

import base64

import httpx

from smart_auth import mfa, users
from tests.conftest import LiveServer
from tests.smart_auth.accounts.helpers import hidden, login, now_code, post_form, rfc6238, secret_of, start
from tests.smart_auth.conftest import (
    PASSWORD,
    REDIRECT,
    Browser,
    add_user,
    create,
    redirect_params,
    run_db,
    token_request,
)

# RFC 6238 Appendix B, SHA-1 rows: the seed is the ASCII string "12345678901234567890", 8 digits.
RFC6238_SHA1 = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
                (2000000000, "69279037"), (20000000000, "65353130")]


def test_rfc6238_test_vectors() -> None:
    seed = base64.b32encode(b"12345678901234567890").decode()
    for at, expected in RFC6238_SHA1:
        assert rfc6238(seed, at, 8) == expected  # the tests' own TOTP
        assert mfa.code_at(seed, at, 8) == expected  # the server's
    assert mfa.matching_step(seed, rfc6238(seed, 1111111109), now=1111111109) == 1111111109 // 30
    assert mfa.matching_step(seed, rfc6238(seed, 1111111109 - 30), now=1111111109) == 1111111109 // 30 - 1
    assert mfa.matching_step(seed, rfc6238(seed, 1111111109 - 90), now=1111111109) is None  # outside ±1 step
    assert mfa.matching_step(seed, "12345", now=1111111109) is None


def _user(acct: LiveServer, role: str) -> str:
    name = add_user(acct, "Practitioner/mfa-doc")
    run_db(acct, lambda conn: users.add_user(conn, name, PASSWORD, "Practitioner/mfa-doc", name, role=role))
    return name


def _finish(acct: LiveServer, browser: Browser, page: httpx.Response, client_id: str, verifier: str) -> dict[str, str]:
    """From the patient picker or consent to the token response."""
    if "Choose a patient" in page.text:
        pat = create(acct, {"resourceType": "Patient", "name": [{"family": "Mfa"}]})
        page = browser.pick(browser.http.get(f"{acct.base}/auth/select", params={
            "request": hidden(page)["request"], "name": "Mfa"}), pat["id"])
    back = redirect_params(browser.consent(page))
    resp = token_request(acct, {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                                "client_id": client_id, "code_verifier": verifier})
    assert resp.status_code == 200, resp.text
    body: dict[str, str] = resp.json()
    return body


def test_admin_must_enrol_then_give_a_code_each_time(acct: LiveServer, app: dict[str, str]) -> None:
    admin = _user(acct, "admin")
    browser, page, verifier, _ = start(acct, app["client_id"])
    page = login(browser, page, admin)
    assert page.status_code == 200 and "Set up two-step verification" in page.text
    assert '<svg role="img" aria-label="QR code' in page.text  # the QR code, inline
    assert "smart_session" in browser.http.cookies  # a partial session: not signed in yet
    secret = secret_of(page)
    wrong = post_form(browser, page, {"code": "000000" if now_code(secret) != "000000" else "111111"})
    assert wrong.status_code == 401 and "not right" in wrong.text
    first = now_code(secret)
    enrolled = post_form(browser, wrong, {"code": first})
    assert enrolled.status_code == 200 and "recovery codes" in enrolled.text
    codes = enrolled.text.split('id="recovery-codes">')[1].split("</code>")[0].split()
    assert len(codes) == 10 and len(set(codes)) == 10
    _finish(acct, browser, post_form(browser, enrolled, {}), app["client_id"], verifier)

    # next sign-in: password, then the code; the code already used (same 30 s step) is refused
    browser, page, verifier, _ = start(acct, app["client_id"])
    page = login(browser, page, admin)
    assert "Two-step verification" in page.text and "Set up" not in page.text
    replay = post_form(browser, page, {"code": first})
    assert replay.status_code == 401
    ok = post_form(browser, replay, {"code": now_code(secret, steps_ahead=1)})  # the next step: within ±1
    _finish(acct, browser, ok, app["client_id"], verifier)

    # a recovery code works once
    for attempt in (1, 2):
        browser, page, verifier, _ = start(acct, app["client_id"])
        page = post_form(browser, login(browser, page, admin), {"code": codes[0]})
        if attempt == 1:
            _finish(acct, browser, page, app["client_id"], verifier)
        else:
            assert page.status_code == 401


def test_practitioner_needs_no_second_step_unless_enrolled(acct: LiveServer, app: dict[str, str]) -> None:
    doc = _user(acct, "practitioner")
    browser, page, _, _ = start(acct, app["client_id"])
    page = login(browser, page, doc)
    assert "Choose a patient" in page.text or "Allow" in page.text  # straight on
    account = browser.http.get(f"{acct.base}/auth/account")
    assert "Two-step verification" in account.text and "Off" in account.text
    setup = post_form(browser, account, {}, index=0)  # "Set up two-step verification"
    secret = secret_of(setup)
    assert post_form(browser, setup, {"code": now_code(secret)}).status_code == 200
    assert "<dd>On</dd>" in browser.http.get(f"{acct.base}/auth/account").text
    browser, page, _, _ = start(acct, app["client_id"])
    assert "Two-step verification" in login(browser, page, doc).text  # now asked every time


def test_wrong_codes_lock_the_account(acct: LiveServer, app: dict[str, str]) -> None:
    admin = _user(acct, "admin")
    browser, page, _, _ = start(acct, app["client_id"])
    page = login(browser, page, admin)
    secret = secret_of(page)
    page = post_form(browser, page, {"code": now_code(secret)})
    browser, page, _, _ = start(acct, app["client_id"])
    page = login(browser, page, admin)
    statuses = []
    for bad in ("123456", "654321", "111222"):
        page = post_form(browser, page, {"code": bad})
        statuses.append(page.status_code)
    assert statuses == [401, 401, 429], statuses  # LOCKOUT: 3 failures
    assert "paused" in page.text and int(page.headers["retry-after"]) > 0
    locked = post_form(browser, page, {"code": now_code(secret, steps_ahead=1)})
    assert locked.status_code == 429  # even the right code, during the cool-down
