"""Fixtures: a server with short delivery backoff, and a rest-hook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Database, LiveServer
from tests.subscriptions.receiver import Receiver


@pytest.fixture()
def sub_server(pg_admin_url: str) -> Iterator[LiveServer]:
    server = LiveServer(Database(pg_admin_url), delivery_max_backoff=0.5).start()
    yield server
    server.stop()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver().up()
    yield r
    r.down()
