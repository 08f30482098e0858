"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser), the SMART JavaScript
client library (``fhirclient`` from the npm registry, fetched with ``npm pack`` at first use), a small SMART app
served on 127.0.0.1, a fake Google provider, and a server with authorization on (Secure cookies: Chromium treats
127.0.0.1 as a secure context). Screenshots go to ``test-artifacts/browser/<test>/`` (git-ignored)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from smart_auth import users
from smart_auth.config import OidcProvider
from tests.smart_auth.conftest import ADMIN, PASSWORD, add_user, auth_server, create, register, run_db
from tests.smart_auth.fakes.oidc_provider import FakeGoogle
from tests.smart_auth.fakes.serve import StaticServer

ROOT = Path(__file__).resolve().parents[3]
APP = Path(__file__).resolve().parent / "app"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
FHIRCLIENT = "fhirclient@2.6.3"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
GOOGLE_CLIENT = "123456789012-browsertest.apps.googleusercontent.com"


@pytest.fixture(scope="session")
def smart_js() -> Path:
    """The browser build of the SMART JavaScript client library (Apache-2.0), from the npm registry."""
    target = APP / "lib" / "fhir-client.js"
    if not target.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the browser tests (Debian: apt-get install npm)"
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([npm, "pack", FHIRCLIENT, "--pack-destination", tmp, "--silent"], cwd=tmp, check=True,
                           capture_output=True, timeout=300)
            with tarfile.open(next(Path(tmp).glob("fhirclient-*.tgz"))) as tar:
                target.parent.mkdir(exist_ok=True)
                for member, name in (("package/build/fhir-client.js", "fhir-client.js"),
                                     ("package/LICENSE", "LICENSE")):
                    source = tar.extractfile(member)
                    assert source is not None
                    (target.parent / name).write_bytes(source.read())
    return target


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def world(pg_admin_url: str, smart_js: Path) -> Iterator[dict[str, Any]]:
    app = StaticServer(APP).start()
    google = FakeGoogle(GOOGLE_CLIENT, "browser-secret", []).start()
    provider = OidcProvider("google", "Google", GOOGLE_CLIENT, "browser-secret", discovery_url=google.discovery_url,
                            create_patients=True)
    server = auth_server(pg_admin_url, cookie_secure=True, mfa_roles=("practitioner", "admin"), patient_signup=True,
                         lockout_attempts=3, lockout_seconds=600, oidc=(provider,))
    google.redirect_uris = [f"{server.base}/auth/oidc/callback"]
    client = register(server, client_name="Vitals viewer", redirect_uris=[f"{app.base}/app.html"])
    pat = create(server, {"resourceType": "Patient", "name": [{"given": ["Amelia"], "family": "Browser"}],
                          "birthDate": "1984-03-09"})
    ref = {"reference": f"Patient/{pat['id']}"}
    for text, code, value, unit in (("Heart rate", "8867-4", 72, "beats/minute"),
                                    ("Body weight", "29463-7", 61.5, "kg")):
        create(server, {"resourceType": "Observation", "status": "final", "subject": ref,
                        "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": text},
                        "valueQuantity": {"value": value, "unit": unit}})
    create(server, {"resourceType": "Condition", "subject": ref, "code": {"text": "Asthma"}})
    doctor = add_user(server, "Practitioner/dr-browser")
    patient_user = add_user(server, f"Patient/{pat['id']}")
    reader = add_user(server, f"Patient/{pat['id']}")
    run_db(server, lambda conn: users.add_user(conn, doctor, PASSWORD, "Practitioner/dr-browser", "Dr Browser",
                                               role="practitioner"))
    yield {"server": server, "app": app, "google": google, "client_id": client["client_id"], "patient": pat,
           "doctor": doctor, "patient_user": patient_user, "reader": reader, "totp": {}}
    server.stop()
    google.stop()
    app.stop()


def launch_url(world: dict[str, Any], scope: str, launch: str | None = None) -> str:
    query = httpx.QueryParams({"iss": world["server"].base, "client_id": world["client_id"], "scope": scope,
                               **({"launch": launch} if launch else {})})
    return f"{world['app'].base}/launch.html?{query}"


def ehr_launch(world: dict[str, Any]) -> str:
    resp = httpx.post(f"{world['server'].base}/auth/launch", headers={"Authorization": f"Bearer {ADMIN}"},
                      json={"patient": world["patient"]["id"], "client_id": world["client_id"]})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["launch"])


class Shots:
    """Numbered full-page screenshots of one test."""

    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def __call__(self, page: Page, what: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{what}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture()
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


@pytest.fixture()
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 900, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()
