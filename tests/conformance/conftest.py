"""Fixtures of the conformance tests: a server on its own database that enforces a profile on Patient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Database, LiveServer

ENFORCED = "http://example.org/fhir/StructureDefinition/enforced-patient"


@pytest.fixture(scope="module")
def enforcing(pg_admin_url: str) -> Iterator[LiveServer]:
    """A server started with FHIR_ENFORCE_PROFILES=Patient=<ENFORCED> (the profile is posted by the test)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("FHIR_ENFORCE_PROFILES", f"Patient={ENFORCED}")
    try:
        server = LiveServer(Database(pg_admin_url)).start()
    finally:
        mp.undo()
    yield server
    server.stop()
