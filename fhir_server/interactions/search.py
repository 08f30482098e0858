"""search (http://hl7.org/fhir/R4/search.html)."""

from __future__ import annotations

from fhir_server.errors import NotImplementedFeature
from fhir_server.interactions.common import Json
from fhir_server.state import Server
from fhir_server.storage.repository import Conn


async def search(
    server: Server, conn: Conn, base: str, res_type: str, params: list[tuple[str, str]],
    prefer: dict[str, str] | None = None,
) -> Json:
    raise NotImplementedFeature("Search is not available yet")
