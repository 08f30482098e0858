"""The external scheduling and geography services (../shared/apis/zocdoc.md, google-maps.md), configured from
the settings: one client per server and event loop, or None when the integration is not configured."""

from __future__ import annotations

import asyncio
from typing import Any

from fhir_server.config import Settings
from mappers.maps_client import MapsClient, MapsConfig
from mappers.zocdoc_client import ZocDocClient, ZocDocConfig

_clients: dict[tuple[str, int, int], Any] = {}


def zocdoc_config(settings: Settings) -> ZocDocConfig | None:
    s = settings
    if not (s.zocdoc_base_url and s.zocdoc_token_url and s.zocdoc_client_id and s.zocdoc_client_secret):
        return None
    return ZocDocConfig(s.zocdoc_base_url, s.zocdoc_token_url, s.zocdoc_client_id, s.zocdoc_client_secret,
                        timeout=s.external_timeout)


def maps_config(settings: Settings) -> MapsConfig | None:
    s = settings
    if not s.google_maps_api_key:
        return None
    return MapsConfig(s.google_maps_api_key, s.google_maps_base_url, s.google_places_base_url,
                      timeout=s.external_timeout)


def _key(kind: str, settings: Settings) -> tuple[str, int, int]:
    return kind, id(settings), id(asyncio.get_running_loop())


def zocdoc(settings: Settings) -> ZocDocClient | None:
    """The ZocDoc client of this server (its OAuth token is reused until it expires)."""
    key = _key("zocdoc", settings)
    if key not in _clients:
        config = zocdoc_config(settings)
        if config is None:
            return None
        _clients[key] = ZocDocClient(config)
    client: ZocDocClient = _clients[key]
    return client


def maps(settings: Settings) -> MapsClient | None:
    key = _key("maps", settings)
    if key not in _clients:
        config = maps_config(settings)
        if config is None:
            return None
        _clients[key] = MapsClient(config)
    client: MapsClient = _clients[key]
    return client


async def close(settings: Settings) -> None:
    """Close the clients of these settings (e.g. when a command ends)."""
    for key in [k for k in _clients if k[1] == id(settings)]:
        await _clients.pop(key).aclose()
