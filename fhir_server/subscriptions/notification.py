"""Notification content (R4 subscription.html#channels; backport IG notification Bundles).

Classic R4 rest-hook: no body (payload absent) or the resource itself. Backport: a ``history``
Bundle whose first entry is the subscription status (a Parameters resource, profile
backport-subscription-status-r4) with the event numbers and focus, followed by the resources when
the payload content is ``full-resource``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fhir_server.fhir.json import instant, now
from fhir_server.subscriptions.spec import BACKPORT, SubscriptionSpec

Json = dict[str, Any]
STATUS_PROFILE = BACKPORT + "backport-subscription-status-r4"


def status_parameters(spec: SubscriptionSpec, base: str, kind: str, events_since_start: int,
                      events: list[tuple[int, datetime, str, str]], status: str = "active",
                      with_focus: bool = True) -> Json:
    """The SubscriptionStatus of the backport (R4 form: Parameters); events are (number, time, type, id)."""
    params: list[Json] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{spec.id}"}},
        {"name": "topic", "valueCanonical": spec.topic.url if spec.topic else ""},
        {"name": "status", "valueCode": status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    for number, when, res_type, res_id in events:
        part: list[Json] = [{"name": "event-number", "valueString": str(number)},
                            {"name": "timestamp", "valueInstant": instant(when)}]
        if with_focus:
            part.append({"name": "focus", "valueReference": {"reference": f"{base}/{res_type}/{res_id}"}})
        params.append({"name": "notification-event", "part": part})
    return {"resourceType": "Parameters", "id": str(uuid.uuid4()), "meta": {"profile": [STATUS_PROFILE]},
            "parameter": params}


def bundle(spec: SubscriptionSpec, base: str, kind: str, events_since_start: int,
           events: list[tuple[int, datetime, str, str, str, Json | None]], status: str = "active") -> Json:
    """A notification Bundle; events are (number, time, type, id, action, resource or None)."""
    with_focus = spec.content != "empty"
    status_res = status_parameters(spec, base, kind, events_since_start,
                                   [(n, t, rt, ri) for n, t, rt, ri, _, _ in events], status, with_focus)
    entries: list[Json] = [{"fullUrl": f"urn:uuid:{status_res['id']}", "resource": status_res,
                            "request": {"method": "GET", "url": f"{base}/Subscription/{spec.id}/$status"},
                            "response": {"status": "200"}}]
    if spec.content == "full-resource":
        for _, _, res_type, res_id, action, resource in events:
            entry: Json = {"fullUrl": f"{base}/{res_type}/{res_id}"}
            if resource is not None:
                entry["resource"] = resource
            method = {"create": "POST", "update": "PUT", "delete": "DELETE"}[action]
            entry["request"] = {"method": method, "url": res_type if method == "POST" else f"{res_type}/{res_id}"}
            entry["response"] = {"status": {"create": "201", "update": "200", "delete": "204"}[action]}
            entries.append(entry)
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "history",
            "timestamp": instant(now()), "entry": entries}
