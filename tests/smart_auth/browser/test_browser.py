"""SMART App Launch 2.x in a real browser (Chromium, Playwright): a SMART app page using the SMART JavaScript
client library does a standalone launch (sign-in, TOTP enrolment, a scope unticked on consent, patient picker,
reading the Patient and its Observations), an EHR launch with a launch id (passing TOTP), "Sign in with Google"
against the fake provider; the account locks after repeated wrong passwords; after sign-out the app's token is
refused. Every page is saved as a screenshot."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.smart_auth.accounts.helpers import STEP, link_in, mails, rfc6238
from tests.smart_auth.browser.conftest import Shots, ehr_launch, launch_url
from tests.smart_auth.conftest import PASSWORD

STANDALONE = "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs patient/Condition.rs"


def sign_in(page: Page, shots: Shots, username: str, password: str = PASSWORD) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shots(page, "sign-in")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(password)
    page.locator("form[action$='/auth/login'] button[type=submit]").click()


def allow(page: Page, shots: Shots, untick: tuple[str, ...] = ()) -> None:
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    for scope in untick:
        page.locator(f"input[type=checkbox][value='{scope}']").uncheck()
    shots(page, "consent")
    page.get_by_role("button", name="Allow").click()


def app_loaded(page: Page, shots: Shots) -> None:
    expect(page.locator("#status")).to_have_text(re.compile(r"Loaded \d+ observations"))
    shots(page, "app")


def test_1_standalone_launch_with_totp_enrolment(page: Page, shots: Shots, world: dict[str, Any]) -> None:
    page.goto(launch_url(world, STANDALONE))
    sign_in(page, shots, world["doctor"])
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    shots(page, "enrol")
    secret = (page.locator("#secret").text_content() or "").replace(" ", "")
    world["totp"]["secret"] = secret
    page.get_by_label("Enter the 6-digit code the app shows").fill(rfc6238(secret, time.time()))
    page.get_by_role("button", name="Turn on two-step verification").click()
    expect(page.get_by_role("heading", name="Two-step verification is on")).to_be_visible()
    assert len((page.locator("#recovery-codes").text_content() or "").split()) == 10
    shots(page, "recovery-codes")
    page.get_by_role("button", name=re.compile("continue")).click()
    expect(page.get_by_role("heading", name="Choose a patient")).to_be_visible()
    shots(page, "patient-picker")
    page.get_by_label(re.compile("Amelia Browser")).check()
    page.get_by_role("button", name="Continue").click()
    allow(page, shots, untick=("patient/Condition.rs",))
    app_loaded(page, shots)
    expect(page.locator("#patient-name")).to_have_text("Amelia Browser")
    expect(page.locator("#observations li")).to_have_count(2)
    expect(page.locator("#observations")).to_contain_text("Heart rate: 72 beats/minute")
    scope = (page.locator("#scope").text_content() or "").split()
    assert "patient/Observation.rs" in scope and "patient/Condition.rs" not in scope
    expect(page.locator("#conditions")).to_have_text("Conditions: refused (403)")


def test_2_ehr_launch_with_totp(page: Page, shots: Shots, world: dict[str, Any]) -> None:
    secret = world["totp"]["secret"]  # enrolled by test 1
    launch = ehr_launch(world)
    page.goto(launch_url(world, "launch openid fhirUser patient/Patient.rs patient/Observation.rs", launch))
    sign_in(page, shots, world["doctor"])
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    shots(page, "totp")
    page.get_by_label(re.compile("6-digit code")).fill(rfc6238(secret, time.time() + STEP))  # a step not yet used
    page.get_by_role("button", name="Verify").click()
    allow(page, shots)
    app_loaded(page, shots)
    expect(page.locator("#patient-id")).to_have_text(world["patient"]["id"])  # the patient of the launch


def test_3_sign_in_with_google(page: Page, shots: Shots, world: dict[str, Any]) -> None:
    page.goto(launch_url(world, "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs"))
    expect(page.get_by_role("button", name="Sign in with Google")).to_be_visible()
    shots(page, "sign-in")
    page.get_by_role("button", name="Sign in with Google").click()
    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible()
    shots(page, "google-account-chooser")
    page.get_by_role("button", name=re.compile("Mara Okonkwo-Test")).click()
    allow(page, shots)  # a new patient account, with its own new record: no picker
    app_loaded(page, shots)
    expect(page.locator("#patient-name")).to_have_text("Mara Okonkwo-Test")
    expect(page.locator("#observations li")).to_have_count(0)


def test_4_lockout_after_wrong_passwords(page: Page, shots: Shots, world: dict[str, Any]) -> None:
    page.goto(launch_url(world, STANDALONE))
    for attempt in range(3):
        sign_in(page, shots, world["patient_user"], f"wrong password {attempt}")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("signing in is paused for 10 minutes")
    shots(page, "locked")
    sign_in(page, shots, world["patient_user"])  # the right password, during the cool-down
    expect(page.get_by_role("alert")).to_contain_text("paused")
    shots(page, "still-locked")


def test_5_logout_revokes_the_apps_token(page: Page, shots: Shots, world: dict[str, Any]) -> None:
    page.goto(launch_url(world, "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs"))
    sign_in(page, shots, world["reader"])  # a patient account: its own record, no picker
    allow(page, shots)
    app_loaded(page, shots)
    account = page.context.new_page()
    account.goto(f"{world['server'].base}/auth/logout")
    expect(account.get_by_role("heading", name="Sign out?")).to_be_visible()
    shots(account, "sign-out")
    account.get_by_role("button", name="Sign out").click()
    expect(account.get_by_role("heading", name="You have signed out")).to_be_visible()
    shots(account, "signed-out")
    page.bring_to_front()
    page.get_by_role("button", name="Reload").click()
    expect(page.locator("#status")).to_have_text("Access refused (401)")
    shots(page, "app-after-sign-out")


def test_6_sign_up_confirm_and_reset_pages(page: Page, shots: Shots, world: dict[str, Any]) -> None:
    base = world["server"].base
    page.goto(f"{base}/auth/account")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{base}/auth/signup")
    page.get_by_label("Your full name").fill("Sol Signup")
    page.get_by_label("Email address").fill("sol@example.org")
    page.get_by_label("Date of birth").fill("1990-07-14")
    page.get_by_label("Choose a password").fill("short")
    shots(page, "sign-up")
    page.get_by_label("Choose a password").evaluate("e => e.removeAttribute('minlength')")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("at least 8 characters")  # the server's own check
    shots(page, "sign-up-error")
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    shots(page, "check-your-email")
    link = mails(world["server"], "sol@example.org")[-1]
    page.goto(link_in(link, "verify"))
    shots(page, "confirm-email")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("heading", name="Email address confirmed")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    sign_in(page, shots, "sol@example.org")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    shots(page, "account")
    page.goto(f"{base}/auth/forgot")
    page.get_by_label("Email address").fill("sol@example.org")
    shots(page, "forgot-password")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    page.goto(link_in(mails(world["server"], "sol@example.org")[-1], "reset"))
    page.get_by_label("New password").fill("a different passphrase")
    shots(page, "new-password")
    page.get_by_role("button", name="Save my new password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    shots(page, "password-changed")
    page.go_back()  # the link again: used
    expect(page.get_by_role("alert")).to_contain_text("already been used")
    shots(page, "link-used")
