"""The chat messages (R4 communication.html: sender, recipient, payload.contentString, inResponseTo,
sent, received, status): what a client may send over the socket, and the Communication it stores.

Client → server, JSON text frames::

    {"type": "authorize", "access_token": "..."}            (when not sent with the connection)
    {"type": "send", "to": ["Practitioner/1"], "text": "...", "inResponseTo": "Communication/9",
     "subject": "Patient/2", "ref": "any client value, echoed"}
    {"type": "read", "id": "<Communication id>", "ref": "..."}   (read receipt: sets ``received``)
    {"type": "ping"}

Server → client: ``ready`` (with ``user``), ``sent`` (the stored Communication, with ``ref``),
``message`` (a new Communication for you, from any server process), ``update`` (a later version,
e.g. its ``received`` set by the recipient), ``receipt``, ``pong`` and ``error`` (``status``,
``message``, ``ref``). A bad message gets an ``error`` and the socket stays open.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from fhir_server.chat.privacy import PERSON_TYPES
from fhir_server.fhir.json import control_path

Json = dict[str, Any]
MAX_FRAME = 64 * 1024
MAX_TEXT = 10_000
MAX_RECIPIENTS = 20
_REF = re.compile(r"([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class ChatError(Exception):
    """A message the server cannot act on: answered with an ``error`` frame of this status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def parse(text: str | bytes) -> Json:
    if len(text) > MAX_FRAME:
        raise ChatError(f"a message may have at most {MAX_FRAME} bytes", 413)
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ChatError("a message is a JSON object with a 'type'") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ChatError("a message is a JSON object with a 'type'")
    if ("\\" in text if isinstance(text, str) else b"\\" in text) and control_path(data) is not None:
        raise ChatError("a message must not hold control characters (below U+0020 other than tab, CR, LF)")
    return data


def ref_of(data: Json) -> str | None:
    ref = data.get("ref")
    return str(ref)[:200] if isinstance(ref, str | int) else None


def person(value: Any, what: str) -> str:
    """A relative reference to a person (``Practitioner/1``)."""
    m = _REF.fullmatch(value) if isinstance(value, str) else None
    if m is None or m.group(1) not in PERSON_TYPES:
        raise ChatError(f"{what} must be a reference like Practitioner/123 to a {', '.join(PERSON_TYPES)}")
    return str(value)


def message_id(value: Any) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ChatError("'id' must be the id of a Communication")
    return value


def communication(sender: str, data: Json, sent: str) -> Json:
    """The Communication a ``send`` message stores."""
    to = data.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or len(to) > MAX_RECIPIENTS:
        raise ChatError(f"'to' names 1 to {MAX_RECIPIENTS} recipients")
    recipients = list(dict.fromkeys(person(r, "each recipient") for r in to))
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ChatError("'text' must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise ChatError(f"'text' may have at most {MAX_TEXT} characters", 413)
    comm: Json = {"resourceType": "Communication", "status": "completed", "sent": sent,
                  "sender": {"reference": sender}, "recipient": [{"reference": r} for r in recipients],
                  "payload": [{"contentString": text}]}
    answered = data.get("inResponseTo")
    if answered is not None:
        m = _REF.fullmatch(answered) if isinstance(answered, str) else None
        if m is None or m.group(1) != "Communication":
            raise ChatError("'inResponseTo' must be a reference like Communication/123")
        comm["inResponseTo"] = [{"reference": answered}]
    subject = data.get("subject")
    if subject is not None:
        m = _REF.fullmatch(subject) if isinstance(subject, str) else None
        if m is None or m.group(1) not in ("Patient", "Group"):
            raise ChatError("'subject' must be a reference like Patient/123")
        comm["subject"] = {"reference": subject}
    return comm


def frame(kind: str, **fields: Any) -> str:
    return orjson.dumps({"type": kind, **{k: v for k, v in fields.items() if v is not None}}).decode()
