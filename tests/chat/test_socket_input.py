"""The chat socket under bad input and bad credentials (RFC 6455 close 1008 "policy violation"; RFC 6750):
every problem is answered with an ``error`` frame — never a server error — and only a socket without
valid credentials, or whose token expired, is closed."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.audit.conftest import ServerProcess
from tests.chat.conftest import Person, kind, open_socket
from tests.smart_auth.conftest import token


@pytest.fixture(scope="module")
def doc(pair: tuple[ServerProcess, ServerProcess]) -> Person:
    return Person(pair[0], "Practitioner", "user/Communication.cruds")


def _refused(url: str, first: str | None = None, **headers: str) -> tuple[dict[str, object], int | None]:
    with connect(url, additional_headers=headers or None, open_timeout=30) as conn:
        if first is not None:
            conn.send(first)
        frame = json.loads(conn.recv(timeout=15))
        with pytest.raises(ConnectionClosed) as closed:
            conn.recv(timeout=15)
    return frame, closed.value.rcvd.code if closed.value.rcvd else None


def test_bad_frames_get_errors_and_the_socket_stays_open(doc: Person) -> None:
    long_text = "x" * 10_001
    cases = [
        ("not json", 400), (json.dumps([1, 2]), 400), (json.dumps({"type": "dance"}), 400),
        (json.dumps({"type": "send", "to": [], "text": "hi"}), 400),
        (json.dumps({"type": "send", "to": ["Observation/1"], "text": "hi"}), 400),
        (json.dumps({"type": "send", "to": ["Patient/../x"], "text": "hi"}), 400),
        (json.dumps({"type": "send", "to": ["Patient/1"], "text": ""}), 400),
        (json.dumps({"type": "send", "to": ["Patient/1"], "text": 5}), 400),
        (json.dumps({"type": "send", "to": ["Patient/1"], "text": "a\u0000b"}), 400),  # no NUL in FHIR strings
        (json.dumps({"type": "send", "to": ["Patient/1"], "text": long_text}), 413),
        (json.dumps({"type": "send", "to": ["Patient/1"], "text": "hi", "inResponseTo": "Patient/1"}), 400),
        (json.dumps({"type": "read", "id": "../../etc"}), 400),
        (json.dumps({"type": "read", "id": "does-not-exist"}), 404),
        (json.dumps({"type": "authorize", "access_token": doc.token}), 400),
    ]
    with open_socket(doc) as sock:
        for n, (text, status) in enumerate(cases):
            sock.conn.send(text)
            frame = sock.wait(kind("error"))
            assert frame["status"] == status, (text[:60], frame)
            sock.send(type="ping", ref=str(n))
            assert sock.wait(kind("pong")) == {"type": "pong", "ref": str(n)}


def test_missing_invalid_and_userless_credentials_close_the_socket(doc: Person) -> None:
    frame, code = _refused(doc.ws_url, json.dumps({"type": "send", "to": ["Patient/1"], "text": "hi"}))
    assert frame["type"] == "error" and frame["status"] == 401 and code == 1008
    frame, code = _refused(doc.ws_url + "?access_token=not-a-token")
    assert frame["status"] == 401 and code == 1008
    frame, code = _refused(doc.ws_url, Authorization="Bearer " + doc.token[:-4] + "AAAA")
    assert frame["status"] == 401 and code == 1008
    userless = token(doc.server, "user/Communication.cruds")  # type: ignore[arg-type]
    frame, code = _refused(doc.ws_url, json.dumps({"type": "authorize", "access_token": userless}))
    assert frame["status"] == 403 and "fhirUser" in str(frame["message"]) and code == 1008


def test_the_socket_closes_when_the_token_expires(doc: Person) -> None:
    short = token(doc.server, "user/Communication.cruds", user=doc.username, seconds=3)  # type: ignore[arg-type]
    started = time.time()
    with connect(doc.ws_url + "?access_token=" + short, open_timeout=30) as conn:
        assert json.loads(conn.recv(timeout=15)) == {"type": "ready", "user": doc.ref}
        frame = json.loads(conn.recv(timeout=15))
        assert frame["type"] == "error" and frame["status"] == 401
        with pytest.raises(ConnectionClosed) as closed:
            conn.recv(timeout=15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert time.time() - started >= 2
