"""Fixtures for the AI operations: the fake OpenAI server, and the real app configured to call it.

Authorization is not wired into the app yet, so ``ai_live`` adds a small test middleware that
turns an ``X-Test-Patient`` header into an access object for that patient's compartment (the
``AccessPolicy`` the AI operations ask): the operations' side of the seam is tested for real.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.errors import Forbidden
from fhir_server.search import compartments
from fhir_server.search.registry import Registry
from fhir_server.search.sql import Cond
from tests.conftest import Database, LiveServer
from tests.extensions.ai.fake_openai import KEY, FakeOpenAI

try:  # the server's access layer (smart_auth's side of the seam), when it is in the tree
    from fhir_server.access import acting_as
except ImportError:  # pragma: no cover - before it lands
    acting_as = None  # type: ignore[assignment]

MODEL = "gpt-test"


class PatientAccess:
    """What a patient-launch token allows, in the server's interaction terms (``fhir_server.access``):
    that patient's compartment, maybe only some types (X-Test-Read), maybe no writes (X-Test-Write: no)."""

    restricted = True

    def __init__(self, patient_id: str, registry: Registry, readable: set[str] | None, may_write: bool) -> None:
        self.patient_id = patient_id
        self.registry = registry
        self.readable = readable
        self.may_write = may_write

    def _ok(self, interaction: str, res_type: str | None) -> bool:
        if interaction in ("create", "update", "patch", "delete"):
            return self.may_write
        return res_type is None or self.readable is None or res_type in self.readable

    def require(self, interaction: str, res_type: str | None) -> None:
        if not self._ok(interaction, res_type):
            raise Forbidden(f"test token: no {interaction} on {res_type}")

    def types(self, interaction: str, candidates: list[str]) -> list[str]:
        return [t for t in candidates if self._ok(interaction, t)]

    def condition(self, interaction: str, res_type: str) -> Cond | None:
        if res_type == "Patient":
            return Cond("r.id = %s", [self.patient_id])
        if res_type not in compartments.members("Patient"):
            return None
        return compartments.condition(self.registry, "Patient", self.patient_id, res_type)

    def permits(self, interaction: str, res_type: str, resource: dict[str, Any]) -> bool:
        if res_type == "Patient":
            return resource.get("id") == self.patient_id
        if res_type not in compartments.members("Patient"):
            return True
        return f'"Patient/{self.patient_id}"' in json.dumps(resource)


class HalfWired:
    """An access object that answers neither the server's nor the AI operations' questions."""

    restricted = True

    def require(self, interaction: str, res_type: str | None) -> None:
        return None

    def permits(self, interaction: str, res_type: str, resource: dict[str, Any]) -> bool:
        return True


class TestAccess:
    """ASGI middleware: the caller's access from X-Test-Patient (X-Test-Read types, X-Test-Write: no).

    It is set both where the server's operations layer reads it now (``fhir_server.access``, when
    present) and on ``request.state`` (the operations framework's first form)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        access: Any = None
        if scope["type"] == "http":
            h = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            if h.get("x-test-patient") == "half-wired":
                access = HalfWired()
            elif "x-test-patient" in h:
                readable = set(h["x-test-read"].split(",")) if "x-test-read" in h else None
                registry = scope["app"].state.server.registry
                access = PatientAccess(h["x-test-patient"], registry, readable, h.get("x-test-write") != "no")
        if access is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["access"] = access
        if acting_as is None:
            await self.app(scope, receive, send)
            return
        with acting_as(access):
            await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def ai_live(pg_admin_url: str, fake_openai: FakeOpenAI) -> Iterator[LiveServer]:
    """The real app with a model configured (the fake), on its own database."""
    # the caller's access comes from the TestAccess middleware; the bearer-token layer, where the
    # settings have it, is turned off so that it does not answer first
    no_auth = {"auth_enabled": False} if "auth_enabled" in Settings.__dataclass_fields__ else {}
    server = LiveServer(Database(pg_admin_url), openai_api_key=KEY, openai_base_url=fake_openai.base_url,
                        openai_model=MODEL, openai_timeout=5.0, openai_max_retries=1, **no_auth)
    server.app.add_middleware(TestAccess)
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def ai(ai_live: LiveServer, fake_openai: FakeOpenAI) -> Iterator[httpx.Client]:
    fake_openai.reset()
    settings = ai_live.app.state.server.settings if hasattr(ai_live.app.state, "server") else None
    with ai_live.client(headers={"Accept": "application/fhir+json"}) as c:
        yield c
    if settings is not None:  # tests that reconfigure the server put it back
        settings.openai_api_key, settings.openai_timeout = KEY, 5.0
    fake_openai.reset()
