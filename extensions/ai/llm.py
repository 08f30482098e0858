"""Chat Completions (https://platform.openai.com/docs/api-reference/chat/create) via the official client.

The endpoint is any OpenAI-compatible server (``OPENAI_BASE_URL``). Failures become
OperationOutcomes: a timeout → 504, a rate limit → 503 with ``Retry-After``, a refused key or
exhausted quota → 502, anything else the endpoint does wrong → 502. The endpoint's own messages are
not passed on (they can carry account details); its request id is, for the operator.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI

from fhir_server.config import Settings
from fhir_server.errors import FhirError, ServiceUnavailable

DEFAULT_RETRY_AFTER = 30


class BadGateway(FhirError):
    """The AI endpoint answered, but not usefully (refused key, quota, malformed answer)."""

    status, code = 502, "exception"


class GatewayTimeout(FhirError):
    status, code = 504, "timeout"


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    model: str  # the model that answered, as the endpoint names it (may carry a date suffix)
    id: str


def configured(settings: Settings) -> bool:
    return bool(settings.openai_api_key)


def _request_id(exc: openai.APIStatusError) -> str:
    return f" (request id {exc.request_id})" if exc.request_id else ""


def retry_after(headers: Any) -> str:
    """Whole seconds to wait, from the endpoint's ``retry-after``/``retry-after-ms`` headers."""
    for name, divisor in (("retry-after", 1.0), ("retry-after-ms", 1000.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return str(max(1, math.ceil(seconds)))
    return str(DEFAULT_RETRY_AFTER)


def translate(exc: openai.OpenAIError) -> FhirError:
    """The FHIR error for a failed call."""
    if isinstance(exc, openai.APITimeoutError):
        return GatewayTimeout("The AI service did not answer in time; nothing was saved")
    if isinstance(exc, openai.RateLimitError):
        if exc.code == "insufficient_quota":
            return BadGateway("The AI service refused the request: the configured account has no quota left"
                              + _request_id(exc))
        wait = retry_after(exc.response.headers)
        return ServiceUnavailable(f"The AI service is rate limited; retry after {wait} s" + _request_id(exc),
                                  headers={"Retry-After": wait})
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return BadGateway("The AI service refused the configured API key" + _request_id(exc))
    if isinstance(exc, openai.APIStatusError):
        return BadGateway(f"The AI service failed with HTTP {exc.status_code}" + _request_id(exc))
    if isinstance(exc, openai.APIConnectionError):
        return BadGateway("The AI service could not be reached")
    return BadGateway(f"The AI service call failed ({type(exc).__name__})")


async def complete(settings: Settings, messages: list[dict[str, str]], *, json_mode: bool = True) -> Completion:
    """One chat completion; raises the FHIR error of any failure."""
    client = AsyncOpenAI(api_key=settings.openai_api_key, base_url=settings.openai_base_url,
                         timeout=settings.openai_timeout, max_retries=settings.openai_max_retries)
    kwargs: dict[str, Any] = {}
    if json_mode:
        kwargs["response_format"] = {"type": "json_object"}
    try:
        async with client:
            resp = await client.chat.completions.create(
                model=settings.openai_model, messages=messages,  # type: ignore[arg-type]
                temperature=settings.openai_temperature, max_completion_tokens=settings.openai_max_tokens,
                **kwargs)
    except openai.OpenAIError as exc:
        raise translate(exc) from exc
    if not resp.choices:
        raise BadGateway("The AI service returned no answer")
    message = resp.choices[0].message
    if message.content is None or not message.content.strip():
        why = "declined to answer" if message.refusal else "returned an empty answer"
        raise BadGateway(f"The AI service {why}")
    return Completion(message.content, resp.model or settings.openai_model, resp.id)


def parse_json(completion: Completion) -> dict[str, Any]:
    """The answer as the JSON object the prompt asked for (502 otherwise)."""
    text = completion.content.strip()
    if text.startswith("```"):  # some endpoints fence JSON despite json mode
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadGateway("The AI service's answer was not the JSON object asked for") from exc
    if not isinstance(data, dict):
        raise BadGateway("The AI service's answer was not the JSON object asked for")
    return data
