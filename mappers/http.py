"""HTTP calls to external APIs (RFC 9110 §15.6.4 503/Retry-After, RFC 6585 §4 429): timeouts and retries.

One helper, ``send``: retries 429 and, for idempotent calls, 5xx and transport failures, with
exponential backoff and full jitter (``Retry-After`` wins when the server sends it). A request that
may have reached the server is not repeated unless the caller says it is idempotent.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ExternalError(Exception):
    """An external service failed or refused; ``status`` is its HTTP status (None: no answer)."""

    def __init__(self, service: str, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message
        self.status = status
        self.body = body


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    attempts: int = 4  # tries in all
    base_delay: float = 0.5  # seconds; attempt n waits up to base * 2**n
    max_delay: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after is not None:
            try:
                return min(self.max_delay, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


async def send(client: httpx.AsyncClient, service: str, method: str, url: str, *, policy: RetryPolicy,
               idempotent: bool = True, **kwargs: Any) -> httpx.Response:
    """The response of the last try; ExternalError when no answer came at all."""
    last = policy.attempts - 1
    for attempt in range(policy.attempts):
        try:
            resp = await client.request(method, url, **kwargs)
        except httpx.ConnectError as exc:  # nothing was sent: always safe to try again
            if attempt == last:
                raise ExternalError(service, f"cannot connect ({exc})") from exc
            await asyncio.sleep(policy.delay(attempt))
            continue
        except httpx.TransportError as exc:  # timeouts, broken connections: maybe processed
            if attempt == last or not idempotent:
                raise ExternalError(service, f"no answer ({type(exc).__name__})") from exc
            await asyncio.sleep(policy.delay(attempt))
            continue
        retry = resp.status_code == 429 or (idempotent and resp.status_code in RETRY_STATUSES)
        if retry and attempt < last:
            await resp.aread()
            await asyncio.sleep(policy.delay(attempt, resp.headers.get("retry-after")))
            continue
        return resp
    raise AssertionError("unreachable")  # pragma: no cover


def json_body(resp: httpx.Response, service: str) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        raise ExternalError(service, f"answered {resp.status_code} with a body that is not JSON",
                            resp.status_code) from exc
