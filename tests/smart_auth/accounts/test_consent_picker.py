"""Consent in plain words with scopes that can be unticked (the token then carries only what was left — Inferno's
limited-access case), and the patient picker listing only the patients the user may see (SMART App Launch 2.x
app-launch.html, launch/patient)."""

from __future__ import annotations

import html

import httpx

from smart_auth import users
from tests.conftest import LiveServer
from tests.smart_auth.accounts.helpers import hidden, login, post_form, start
from tests.smart_auth.conftest import (
    PASSWORD,
    REDIRECT,
    add_user,
    bearer,
    create,
    forms,
    redirect_params,
    register,
    run_db,
    token_request,
)

SCOPE = "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs patient/Condition.rs"


def test_consent_in_plain_words_and_limited_access(auth: LiveServer) -> None:
    app = register(auth)
    pat = create(auth, {"resourceType": "Patient", "name": [{"given": ["Lim"], "family": "Ited"}],
                        "birthDate": "1970-01-02"})
    ref = {"reference": f"Patient/{pat['id']}"}
    create(auth, {"resourceType": "Condition", "subject": ref, "code": {"text": "asthma"}})
    user = add_user(auth, f"Patient/{pat['id']}")
    browser, page, verifier, _ = start(auth, app["client_id"], SCOPE)
    page = login(browser, page, user)
    for words in ("See and search this patient's basic details (name, date of birth, contact details)",
                  "See and search this patient's test results, measurements and vital signs",
                  "See and search this patient's health problems and diagnoses", "Know who you are",
                  "Lim Ited (1970-01-02)"):
        assert words in html.unescape(page.text), words
    boxes = {i["value"]: i["name"] for i in forms(page.text)[-1]["inputs"] if i.get("type") == "checkbox"}
    assert set(boxes) == {"openid", "fhirUser", "patient/Patient.rs", "patient/Observation.rs",
                          "patient/Condition.rs"}
    kept = {name: value for value, name in boxes.items() if value != "patient/Condition.rs"}  # untick one
    form = forms(page.text)[-1]
    back = redirect_params(browser.http.post(form["action"], data={**hidden(page), **kept, "decision": "allow"}))
    tokens = token_request(auth, {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                                  "client_id": app["client_id"], "code_verifier": verifier}).json()
    assert "patient/Condition.rs" not in tokens["scope"].split()
    assert {"patient/Patient.rs", "patient/Observation.rs", "openid", "fhirUser"} <= set(tokens["scope"].split())
    headers = bearer(tokens["access_token"])
    assert httpx.get(f"{auth.base}/Observation", params={"patient": pat["id"]}, headers=headers).status_code == 200
    assert httpx.get(f"{auth.base}/Condition", params={"patient": pat["id"]}, headers=headers).status_code == 403


def test_picker_lists_only_patients_the_user_may_see(auth: LiveServer) -> None:
    app = register(auth)
    child = create(auth, {"resourceType": "Patient", "name": [{"family": "Pickerchild"}]})
    stranger = create(auth, {"resourceType": "Patient", "name": [{"family": "Pickerstranger"}]})
    parent = create(auth, {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{child['id']}"},
                           "name": [{"family": "Pickerparent"}]})
    name = add_user(auth, f"RelatedPerson/{parent['id']}")  # a patient-side account: a parent
    browser, page, _, _ = start(auth, app["client_id"])
    page = login(browser, page, name)
    assert "Allow" in page.text and "Pickerchild" in page.text  # the only patient it may see: chosen at once
    rid = hidden(page)["request"]
    picker = browser.http.get(f"{auth.base}/auth/select", params={"request": rid, "name": "Pickerstranger"})
    radios = [i["value"] for i in forms(picker.text)[-1]["inputs"] if i.get("type") == "radio"]
    assert radios == [child["id"]]
    forged = post_form(browser, picker, {"patient": stranger["id"]})
    assert forged.status_code == 400 and "Choose a patient from the list" in forged.text
    chosen = post_form(browser, picker, {"patient": child["id"]})
    assert "Allow" in chosen.text
    # a clinician sees both; a patient account with no record is told so
    doc = add_user(auth, "Practitioner/picker-doc")
    browser, page, _, _ = start(auth, app["client_id"])
    page = login(browser, page, doc)
    found = browser.http.get(f"{auth.base}/auth/select", params={"request": hidden(page)["request"],
                                                                 "name": "Picker"}).text
    assert child["id"] in found and stranger["id"] in found
    lost = add_user(auth)
    run_db(auth, lambda conn: users.add_user(conn, lost, PASSWORD, None, "Lost", role="patient"))
    browser, page, _, _ = start(auth, app["client_id"])
    page = login(browser, page, lost)
    assert page.status_code == 403 and "not linked to a patient record" in page.text
