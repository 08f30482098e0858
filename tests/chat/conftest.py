"""Fixtures for the chat tests: two server processes on one database with authorization on, the people
who chat (accounts whose fhirUser is a Practitioner or a Patient, with their tokens), and a small
WebSocket client that waits for the frame it expects."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.audit.conftest import ServerProcess
from tests.conftest import Database
from tests.smart_auth.conftest import add_user, bearer, create, token

Json = dict[str, Any]


@pytest.fixture(scope="module")
def pair(pg_admin_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    db = Database(pg_admin_url)
    first = ServerProcess(db, auth=True)
    try:
        second = ServerProcess(db, auth=True)
    except BaseException:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


class Person:
    """Someone who chats: a Practitioner or Patient resource, an account for it, a token for one server."""

    def __init__(self, server: ServerProcess, kind: str, scope: str) -> None:
        self.server = server
        admin = token(server, "system/*.cruds")  # type: ignore[arg-type]
        body: Json = {"resourceType": kind, "name": [{"family": kind + uuid.uuid4().hex[:6]}]}
        self.id = create(server, body, admin)["id"]  # type: ignore[arg-type]
        self.ref = f"{kind}/{self.id}"
        self.username = add_user(server, self.ref)  # type: ignore[arg-type]
        patient = self.id if kind == "Patient" else None
        self.token = token(server, scope, patient=patient, user=self.username)  # type: ignore[arg-type]

    @property
    def ws_url(self) -> str:
        return self.server.base.replace("http://", "ws://") + "/chat"

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.server.base}/{path}", params=params, headers=bearer(self.token), timeout=60)


class Socket:
    """A chat socket: frames are JSON; ``wait`` reads until a frame matches (keeping the others)."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.seen: list[Json] = []

    def send(self, **frame: Any) -> None:
        self.conn.send(json.dumps(frame))

    def wait(self, match: Callable[[Json], bool], timeout: float = 15.0) -> Json:
        for frame in self.seen:
            if match(frame):
                self.seen.remove(frame)
                return frame
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            assert left > 0, f"no matching frame; got {self.seen}"
            frame = json.loads(self.conn.recv(timeout=left))
            if match(frame):
                return frame
            self.seen.append(frame)

    def next(self, timeout: float = 15.0) -> Json:
        if self.seen:
            return self.seen.pop(0)
        frame: Json = json.loads(self.conn.recv(timeout=timeout))
        return frame


def kind(name: str, **fields: Any) -> Callable[[Json], bool]:
    def match(frame: Json) -> bool:
        return frame.get("type") == name and all(frame.get(k) == v for k, v in fields.items())

    return match


def message_with(comm_id: str, name: str = "message") -> Callable[[Json], bool]:
    return lambda f: f.get("type") == name and f.get("communication", {}).get("id") == comm_id


@contextmanager
def open_socket(person: Person, how: str = "header") -> Iterator[Socket]:
    """Connect and authenticate: with the Authorization header, ``?access_token=``, or a first frame."""
    if how == "header":
        conn = connect(person.ws_url, additional_headers=bearer(person.token), open_timeout=30)
    elif how == "query":
        conn = connect(f"{person.ws_url}?access_token={person.token}", open_timeout=30)
    else:
        conn = connect(person.ws_url, open_timeout=30)
    with conn:
        sock = Socket(conn)
        if how == "first-frame":
            sock.send(type="authorize", access_token=person.token)
        ready = sock.next()
        assert ready == {"type": "ready", "user": person.ref}, ready
        yield sock
