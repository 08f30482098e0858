"""Turning subscriptions on inside a server process: hook, outbox consumer, delivery workers, websocket hub."""

from __future__ import annotations

from typing import Any

from fhir_server.subscriptions import hook
from fhir_server.subscriptions import operations as _operations  # noqa: F401  (registers $status, $events)
from fhir_server.subscriptions.delivery import Deliverer
from fhir_server.subscriptions.matcher import Matcher
from fhir_server.subscriptions.topics import TOPICS
from fhir_server.subscriptions.websocket import WebSocketHub

WEBSOCKET_EXT = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket"
TOPIC_EXT = ("http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
             "capabilitystatement-subscriptiontopic-canonical")


class Subscriptions:
    """What runs for subscriptions in one process; ``start``/``stop`` from the app lifespan."""

    def __init__(self, server: Any, base: str) -> None:
        hook.install()
        server.consumers["subscriptions"] = Matcher(server)
        self.deliverer = Deliverer(server, base)
        self.hub = WebSocketHub(server, base)

    def start(self) -> None:
        self.deliverer.start()
        self.hub.start()

    async def stop(self) -> None:
        await self.deliverer.stop()
        await self.hub.stop()


def decorate_capabilities(cs: dict[str, Any], base: str) -> None:
    """Advertise the websocket endpoint and the topics."""
    rest = cs["rest"][0]
    ws = base.replace("https://", "wss://").replace("http://", "ws://") + "/websocket"
    rest.setdefault("extension", []).append({"url": WEBSOCKET_EXT, "valueUri": ws})
    cs.setdefault("extension", []).extend(
        {"url": TOPIC_EXT, "valueCanonical": url} for url in sorted(TOPICS))
