"""Google Maps Platform client (../shared/apis/google-maps.md): Places API (New) searchNearby/searchText,
legacy Nearby Search, and legacy Geocoding, over httpx with timeouts and retries.

Legacy services answer HTTP 200 with a ``status`` string (OVER_QUERY_LIMIT and UNKNOWN_ERROR are
retried); the New API answers real HTTP errors in Google's error envelope. Every Places (New)
call sends the field mask of exactly the fields ``mappers.maps`` reads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from mappers.http import ExternalError, RetryPolicy, json_body, send

Json = dict[str, Any]
SERVICE = "Google Maps"
PLACE_FIELDS = ("id", "displayName", "types", "primaryType", "formattedAddress", "addressComponents", "location",
                "nationalPhoneNumber", "internationalPhoneNumber", "websiteUri", "googleMapsUri",
                "businessStatus", "regularOpeningHours")
_LEGACY_RETRY = {"OVER_QUERY_LIMIT", "UNKNOWN_ERROR"}


@dataclass(slots=True)
class MapsConfig:
    api_key: str
    maps_base_url: str = "https://maps.googleapis.com"  # legacy web services (Geocoding, Nearby Search)
    places_base_url: str = "https://places.googleapis.com"  # Places API (New)
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    page_token_delay: float = 2.0  # a legacy next_page_token is not valid at once


class MapsClient:
    def __init__(self, config: MapsConfig, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.http = http or httpx.AsyncClient(timeout=config.timeout)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _legacy(self, path: str, params: dict[str, Any]) -> Json:
        cfg = self.config
        url = cfg.maps_base_url.rstrip("/") + path
        for attempt in range(cfg.retry.attempts):
            resp = await send(self.http, SERVICE, "GET", url, policy=cfg.retry, params={**params, "key": cfg.api_key})
            if resp.status_code != 200:
                raise ExternalError(SERVICE, f"{path} answered HTTP {resp.status_code}", resp.status_code)
            body = json_body(resp, SERVICE)
            if not isinstance(body, dict):
                raise ExternalError(SERVICE, f"{path} answered without a JSON object", 200)
            if body.get("status") in _LEGACY_RETRY and attempt < cfg.retry.attempts - 1:
                await asyncio.sleep(cfg.retry.delay(attempt))
                continue
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    async def geocode(self, address: str) -> Json:
        """The raw Geocoding response for an address (status OK / ZERO_RESULTS / failure)."""
        return await self._legacy("/maps/api/geocode/json", {"address": address})

    async def nearby_legacy(self, lat: float, lng: float, radius: float, place_type: str | None = None,
                            keyword: str | None = None, max_pages: int = 3) -> list[Json]:
        """Legacy Nearby Search pages (≤ 20 results each, ≤ 3 pages); every response as it came."""
        params: dict[str, Any] = {"location": f"{lat},{lng}", "radius": radius}
        if place_type:
            params["type"] = place_type
        if keyword:
            params["keyword"] = keyword
        pages = [await self._legacy("/maps/api/place/nearbysearch/json", params)]
        while len(pages) < max_pages and pages[-1].get("status") == "OK" and pages[-1].get("next_page_token"):
            await asyncio.sleep(self.config.page_token_delay)
            pages.append(await self._legacy("/maps/api/place/nearbysearch/json",
                                            {"pagetoken": pages[-1]["next_page_token"]}))
        return pages

    async def _new(self, path: str, body: Json) -> Json:
        cfg = self.config
        headers = {"X-Goog-Api-Key": cfg.api_key,
                   "X-Goog-FieldMask": ",".join("places." + f for f in PLACE_FIELDS) + ",nextPageToken"}
        resp = await send(self.http, SERVICE, "POST", cfg.places_base_url.rstrip("/") + path, policy=cfg.retry,
                          json=body, headers=headers)
        data = json_body(resp, SERVICE) if resp.content else {}
        if resp.status_code != 200:
            err = data.get("error") if isinstance(data, dict) else None
            message = err.get("message") if isinstance(err, dict) else None
            raise ExternalError(SERVICE, f"{path} answered {resp.status_code}: {message or 'error'}",
                                resp.status_code, data)
        if not isinstance(data, dict):
            raise ExternalError(SERVICE, f"{path} answered without a JSON object", 200)
        return data

    async def search_nearby(self, lat: float, lng: float, radius: float, types: list[str] | None = None,
                            max_results: int = 20) -> Json:
        """Places (New) Nearby Search (no paging: at most 20 places)."""
        body: Json = {"locationRestriction": {"circle": {"center": {"latitude": lat, "longitude": lng},
                                                         "radius": float(radius)}},
                      "maxResultCount": max(1, min(20, max_results)), "rankPreference": "DISTANCE"}
        if types:
            body["includedTypes"] = types
        return await self._new("/v1/places:searchNearby", body)

    async def search_text(self, query: str, *, included_type: str | None = None, max_pages: int = 3,
                          page_size: int = 20) -> list[Json]:
        """Places (New) Text Search, following nextPageToken; every response as it came."""
        body: Json = {"textQuery": query, "pageSize": page_size}
        if included_type:
            body["includedType"] = included_type
        pages = [await self._new("/v1/places:searchText", body)]
        while len(pages) < max_pages and pages[-1].get("nextPageToken"):
            pages.append(await self._new("/v1/places:searchText", {**body, "pageToken": pages[-1]["nextPageToken"]}))
        return pages
