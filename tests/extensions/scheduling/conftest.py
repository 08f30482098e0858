"""Fixtures: the fake ZocDoc and Google Maps servers, and one FHIR server wired to them (with the ZocDoc
webhook mounted), on a database of its own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from extensions.scheduling.webhook import install
from tests.conftest import Database, LiveServer
from tests.fixtures.fake_maps import API_KEY, FakeMaps
from tests.fixtures.fake_zocdoc import CLIENT_ID, CLIENT_SECRET, WEBHOOK_KEY, FakeZocDoc


@pytest.fixture(scope="module")
def zocdoc_fake() -> Iterator[FakeZocDoc]:
    fake = FakeZocDoc().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def maps_fake() -> Iterator[FakeMaps]:
    fake = FakeMaps().start()
    yield fake
    fake.stop()


def integration_settings(zocdoc: FakeZocDoc, maps: FakeMaps) -> dict[str, object]:
    return {
        "zocdoc_base_url": zocdoc.url, "zocdoc_token_url": zocdoc.url + "/oauth/token",
        "zocdoc_client_id": CLIENT_ID, "zocdoc_client_secret": CLIENT_SECRET, "zocdoc_webhook_key": WEBHOOK_KEY,
        "google_maps_api_key": API_KEY, "google_maps_base_url": maps.url, "google_places_base_url": maps.url,
        "external_timeout": 5.0,
    }


@pytest.fixture(scope="module")
def sched(pg_admin_url: str, zocdoc_fake: FakeZocDoc, maps_fake: FakeMaps) -> Iterator[LiveServer]:
    server = LiveServer(Database(pg_admin_url), **integration_settings(zocdoc_fake, maps_fake))
    install(server.app)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def c(sched: LiveServer) -> Iterator[httpx.Client]:
    with sched.client(headers={"Accept": "application/fhir+json"}) as client:
        yield client
