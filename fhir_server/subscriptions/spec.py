"""A Subscription resource read into what the server acts on (R4 subscription.html, backport IG profiles).

Classic R4: ``criteria`` is a search (``Observation?code=…``), matched with the search engine.
Backport: ``criteria`` is a topic canonical; the filter is the ``backport-filter-criteria``
extension on ``_criteria`` (a search on the topic's resource type); the payload content
(``empty | id-only | full-resource``) and the heartbeat period are channel extensions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fhir_server.subscriptions.owner import recorded
from fhir_server.subscriptions.topics import Topic, topic

Json = dict[str, Any]
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
FILTER_EXT = BACKPORT + "backport-filter-criteria"
CONTENT_EXT = BACKPORT + "backport-payload-content"
HEARTBEAT_EXT = BACKPORT + "backport-heartbeat-period"
TIMEOUT_EXT = BACKPORT + "backport-timeout"
MAX_COUNT_EXT = BACKPORT + "backport-max-count"
CHANNELS = ("rest-hook", "websocket")


class SpecError(ValueError):
    """The Subscription cannot be acted on (the message says why)."""


@dataclass(slots=True)
class SubscriptionSpec:
    id: str
    status: str
    res_type: str
    params: list[tuple[str, str]]  # the search that selects resources ([] = every resource of the type)
    channel: str  # rest-hook | websocket
    endpoint: str | None
    headers: dict[str, str] = field(default_factory=dict)
    payload: str | None = None  # MIME type, or None: no payload
    content: str = "id-only"  # backport: empty | id-only | full-resource
    topic: Topic | None = None
    heartbeat: int | None = None  # seconds
    timeout: int = 10
    owner: Json | None = None  # the creator's recorded restriction (owner.py); None: unrestricted

    @property
    def backport(self) -> bool:
        return self.topic is not None


def _ext(node: Any, url: str) -> Any:
    for ext in (node or {}).get("extension", []) if isinstance(node, dict) else []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None


def _search(text: str) -> tuple[str, list[tuple[str, str]]]:
    res_type, _, query = text.partition("?")
    if not res_type or not res_type[0].isupper() or "/" in res_type:
        raise SpecError(f"criteria '{text}' must be a search like Observation?code=…")
    return res_type, parse_qsl(query, keep_blank_values=True)


def _headers(channel: Json) -> dict[str, str]:
    out = {}
    for raw in channel.get("header", []) or []:
        name, colon, value = str(raw).partition(":")
        if not colon or not name.strip():
            raise SpecError(f"channel.header '{raw}' must be 'Name: value'")
        out[name.strip()] = value.strip()
    return out


def parse(sub: Json) -> SubscriptionSpec:
    criteria = sub.get("criteria")
    if not isinstance(criteria, str) or not criteria:
        raise SpecError("Subscription.criteria is required")
    channel = sub.get("channel") or {}
    kind = channel.get("type")
    if kind not in CHANNELS:
        raise SpecError(f"channel.type '{kind}' is not supported (supported: {', '.join(CHANNELS)})")
    endpoint = channel.get("endpoint")
    if kind == "rest-hook" and not (isinstance(endpoint, str) and endpoint.startswith(("http://", "https://"))):
        raise SpecError("a rest-hook channel needs an http(s) endpoint")
    found = topic(criteria)
    params: list[tuple[str, str]] = []
    if found is not None:
        res_type = found.res_type
        filt = _ext(sub.get("_criteria"), FILTER_EXT)
        if isinstance(filt, str) and filt:
            f_type, params = _search(filt if "?" in filt else f"{res_type}?{filt}")
            if f_type != res_type:
                raise SpecError(f"filter criteria '{filt}' is not on {res_type}, the topic's resource type")
    elif criteria.startswith(("urn:", "http://", "https://")):
        raise SpecError(f"'{criteria}' is not a topic of this server")
    else:
        res_type, params = _search(criteria)
    payload = channel.get("payload")
    content = _ext(channel.get("_payload"), CONTENT_EXT) or ("full-resource" if payload else "empty")
    if content not in ("empty", "id-only", "full-resource"):
        raise SpecError(f"payload content '{content}' must be empty, id-only or full-resource")
    if payload not in (None, "application/fhir+json", "application/json"):
        raise SpecError(f"payload '{payload}' is not supported (use application/fhir+json)")
    heartbeat = _ext(channel, HEARTBEAT_EXT)
    timeout = _ext(channel, TIMEOUT_EXT)
    return SubscriptionSpec(
        id=str(sub.get("id", "")), status=str(sub.get("status", "")), res_type=res_type, params=params,
        channel=kind, endpoint=endpoint if isinstance(endpoint, str) else None, headers=_headers(channel),
        payload=payload, content=content, topic=found,
        heartbeat=int(heartbeat) if isinstance(heartbeat, int) and heartbeat > 0 else None,
        timeout=int(timeout) if isinstance(timeout, int) and 0 < timeout <= 120 else 10,
        owner=recorded(sub),
    )
