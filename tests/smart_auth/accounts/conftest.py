"""Servers for the account tests: patient sign-up on, a short lockout (3 failures, 3 s cool-down) so the
cool-down can be waited out, and one public SMART app registered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.smart_auth.conftest import auth_server, register

LOCKOUT: dict[str, Any] = {"lockout_attempts": 3, "lockout_seconds": 3}


@pytest.fixture(scope="module")
def acct(pg_admin_url: str) -> Iterator[LiveServer]:
    server = auth_server(pg_admin_url, patient_signup=True, mfa_roles=("admin",), **LOCKOUT)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app(acct: LiveServer) -> dict[str, Any]:
    return register(acct, client_name="Account test app")
