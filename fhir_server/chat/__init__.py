"""Real-time chat between patients and practitioners (R4 communication.html; SMART App Launch 2.x tokens).

Messages are Communication resources (sender, recipient, ``payload.contentString``,
``inResponseTo``, ``sent``, ``received``, status) written through the normal write path over a
WebSocket at ``/chat`` (``endpoint``, ``protocol``, ``service``); participants connected to any
server process get them at once (``hub``: LISTEN/NOTIFY); offline ones read them later by search
(``Communication?recipient=…&_sort=-sent``). Only participants (and scopes that allow it) can
read a conversation (``privacy``), over the socket and over REST alike.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import WebSocketRoute

from fhir_server.access import register_row_rule
from fhir_server.chat.endpoint import chat_socket
from fhir_server.chat.privacy import RULE
from fhir_server.chat.service import Chat

__all__ = ["Chat", "install"]


def install(app: Any) -> None:
    """The ``/chat`` WebSocket route and the conversation privacy rule."""
    app.router.routes.insert(0, WebSocketRoute("/chat", chat_socket))
    register_row_rule("Communication", RULE)
