"""ZocDoc partner API client (../shared/apis/zocdoc.md "Authentication", "Endpoints"): httpx, OAuth 2 client
credentials, page-numbered lists, availability in chunks of 50, booking and cancellation.

Base URL, token URL and credentials come from the settings; every call has a timeout, and 429/5xx
answers are retried with backoff (``mappers.http``). A booking (POST) is retried only on 429 and
on connection failures, never after a request may have reached ZocDoc.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from mappers.http import ExternalError, RetryPolicy, json_body, send

Json = dict[str, Any]
SERVICE = "ZocDoc"
MAX_IDS = 50  # provider_location_ids per availability call
MAX_WINDOW_DAYS = 31  # end date at most 31 days after the start date


class ZocDocError(ExternalError):
    """ZocDoc answered with an error (``ErrorResult``: ``errors[].field/message``)."""

    @property
    def messages(self) -> list[str]:
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        out = []
        for e in errors or []:
            if isinstance(e, dict) and e.get("message"):
                out.append(f"{e['field']}: {e['message']}" if e.get("field") else str(e["message"]))
        return out


@dataclass(slots=True)
class ZocDocConfig:
    base_url: str
    token_url: str
    client_id: str
    client_secret: str
    audience: str | None = None  # default: base_url + "/"
    scope: str = "external.appointment.read external.appointment.write"
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class ZocDocClient:
    def __init__(self, config: ZocDocConfig, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.http = http or httpx.AsyncClient(timeout=config.timeout)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def token(self, refresh: bool = False) -> str:
        async with self._lock:
            if self._token and not refresh and time.monotonic() < self._expires:
                return self._token
            cfg = self.config
            body = {"grant_type": "client_credentials", "client_id": cfg.client_id, "client_secret": cfg.client_secret,
                    "audience": cfg.audience or cfg.base_url.rstrip("/") + "/", "scope": cfg.scope}
            resp = await send(self.http, SERVICE, "POST", cfg.token_url, policy=cfg.retry, json=body)
            data = json_body(resp, SERVICE) if resp.content else {}
            if resp.status_code != 200 or not isinstance(data, dict) or not data.get("access_token"):
                why = data.get("error_description") or data.get("error") if isinstance(data, dict) else None
                raise ZocDocError(SERVICE, f"token request refused ({resp.status_code}): {why or 'no token'}",
                                  resp.status_code, data)
            self._token = str(data["access_token"])
            lifetime = data["expires_in"] if isinstance(data.get("expires_in"), int) else 300
            self._expires = time.monotonic() + max(0, lifetime - 60)
            return self._token

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                   json: Json | None = None, idempotent: bool = True) -> Json:
        """One API call; returns the whole JSON body (``request_id``, ``data``, paging fields)."""
        url = self.config.base_url.rstrip("/") + path
        for attempt in (0, 1):
            headers = {"Authorization": f"Bearer {await self.token(refresh=attempt == 1)}"}
            resp = await send(self.http, SERVICE, method, url, policy=self.config.retry, idempotent=idempotent,
                              params=params, json=json, headers=headers)
            if resp.status_code == 401 and attempt == 0:
                continue  # the token expired early or was revoked: fetch a new one once
            break
        body = json_body(resp, SERVICE) if resp.content else None
        if resp.status_code >= 400:
            err = ZocDocError(SERVICE, f"{method} {path} answered {resp.status_code}", resp.status_code, body)
            if err.messages:
                err.message += ": " + "; ".join(err.messages)
            raise err
        if not isinstance(body, dict):
            raise ZocDocError(SERVICE, f"{method} {path} answered without a JSON object", resp.status_code, body)
        return body

    async def provider_locations(self, zip_code: str, *, specialty_id: str | None = None,
                                 visit_reason_id: str | None = None, page_size: int = 50,
                                 max_pages: int = 20, **extra: Any) -> list[Json]:
        """Every ProviderLocation of a directory search, following the page numbers."""
        params: dict[str, Any] = {"zip_code": zip_code, "page_size": page_size, **extra}
        if specialty_id:
            params["specialty_id"] = specialty_id
        if visit_reason_id:
            params["visit_reason_id"] = visit_reason_id
        out: list[Json] = []
        for page in range(max_pages):
            body = await self.call("GET", "/v1/provider_locations", params={**params, "page": page})
            data = body.get("data")
            found = data.get("provider_locations") if isinstance(data, dict) else None
            if not isinstance(found, list):
                raise ZocDocError(SERVICE, "provider_locations: 'data.provider_locations' is missing", 200, body)
            out.extend(pl for pl in found if isinstance(pl, dict))
            if not body.get("next_url"):
                break
        return out

    async def provider_location(self, plid: str) -> Json:
        body = await self.call("GET", f"/v1/provider_locations/{plid}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise ZocDocError(SERVICE, "provider_location: 'data' is missing", 200, body)
        return data

    async def availability(self, plids: list[str], visit_reason_id: str, start: date, end: date,
                           patient_type: str = "new") -> list[Json]:
        """Availability entries for any number of provider locations and a window of any length."""
        out: list[Json] = []
        for i in range(0, len(plids), MAX_IDS):
            chunk = plids[i:i + MAX_IDS]
            day = start
            while day <= end:
                last = min(end, date.fromordinal(day.toordinal() + MAX_WINDOW_DAYS))
                body = await self.call("GET", "/v1/provider_locations/availability", params={
                    "provider_location_ids": ",".join(chunk), "visit_reason_id": visit_reason_id,
                    "patient_type": patient_type, "start_date_in_provider_local_time": day.isoformat(),
                    "end_date_in_provider_local_time": last.isoformat()})
                data = body.get("data")
                if not isinstance(data, list):
                    raise ZocDocError(SERVICE, "availability: 'data' is not a list", 200, body)
                out.extend(e for e in data if isinstance(e, dict))
                day = date.fromordinal(last.toordinal() + 1)
        return out

    async def book(self, request: Json) -> Json:
        body = await self.call("POST", "/v1/appointments", json=request, idempotent=False)
        return _data(body, "book")

    async def appointment(self, appointment_id: str) -> Json:
        return _data(await self.call("GET", f"/v1/appointments/{appointment_id}"), "appointment")

    async def cancel(self, appointment_id: str, reason_type: str = "other_patient_reason",
                     reason: str | None = None) -> Json:
        payload: Json = {"appointment_id": appointment_id, "cancellation_reason_type": reason_type}
        if reason and reason_type.startswith("other_"):
            payload["cancellation_reason"] = reason
        return _data(await self.call("POST", "/v1/appointments/cancel", json=payload, idempotent=False), "cancel")


def _data(body: Json, what: str) -> Json:
    data = body.get("data")
    if not isinstance(data, dict):
        raise ZocDocError(SERVICE, f"{what}: 'data' is missing", 200, body)
    return data
