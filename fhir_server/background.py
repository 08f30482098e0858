"""Background services of extensions (DESIGN.md: everything shared lives in PostgreSQL, N processes act as one).

An extension registers ``start(server) -> stop`` with ``register``; ``fhir-server serve`` starts every
registered service after the operations are loaded and stops them on shutdown. Services must be
safe to run in several processes at once (advisory locks, idempotent writes).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)
Stop = Callable[[], Awaitable[None]]
Start = Callable[[Any], Awaitable[Stop]]
_services: dict[str, Start] = {}


def register(name: str, start: Start) -> None:
    _services[name] = start


async def start_all(server: Any) -> list[Stop]:
    stops: list[Stop] = []
    for name, start in _services.items():
        try:
            stops.append(await start(server))
        except Exception:
            log.exception("background service %s did not start", name)
    return stops


async def stop_all(stops: list[Stop]) -> None:
    for stop in reversed(stops):
        try:
            await stop()
        except Exception:
            log.exception("a background service did not stop cleanly")
