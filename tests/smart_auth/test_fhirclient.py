"""The Python SMART client ``fhirclient`` (PyPI) completes a standalone launch and reads the patient, as a
third-party app would: it discovers the OAuth endpoints from the CapabilityStatement, sends PKCE S256,
exchanges the code and signs its FHIR requests with the access token."""

from __future__ import annotations

from fhirclient import client
from fhirclient.models.patient import Patient

from tests.conftest import LiveServer
from tests.smart_auth.conftest import REDIRECT, Browser, add_user, create, register


def test_fhirclient_standalone_launch(auth: LiveServer) -> None:
    app = register(auth, client_name="fhirclient app")
    pat = create(auth, {"resourceType": "Patient", "name": [{"family": "Clientpy", "given": ["Fiona"]}],
                        "birthDate": "1990-02-03"})
    user = add_user(auth, "Practitioner/fhirclient-doc")
    smart = client.FHIRClient(settings={"app_id": app["client_id"], "api_base": auth.base, "redirect_uri": REDIRECT,
                                        "scope": "openid fhirUser patient/*.rs"})
    url = smart.authorize_url  # reads /metadata for the oauth-uris; adds launch/patient and PKCE
    assert url.startswith(f"{auth.base}/auth/authorize?") and "code_challenge_method=S256" in url
    browser = Browser(auth)
    page = browser.pick(browser.login(browser.http.get(url), user), pat["id"])
    callback = browser.consent(page).headers["location"]
    smart.handle_callback(callback)
    assert smart.ready and smart.patient_id == pat["id"]
    patient = Patient.read(smart.patient_id, smart.server)
    assert patient.name[0].family == "Clientpy" and patient.birthDate.isostring == "1990-02-03"
    assert smart.human_name(patient.name[0]) == "Fiona Clientpy"
