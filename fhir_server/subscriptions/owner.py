"""Whose eyes a subscription sees through (SMART App Launch scopes applied to notifications).

A Subscription notifies only of what its creator could have searched for: the scopes and launch
context of the access token that wrote it are recorded with it (a ``meta`` extension the server
sets on every write, whatever the client sent), and the matcher applies them to every change. With
authorization off there is no restriction to record.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server import access

Json = dict[str, Any]
OWNER_EXT = "urn:fhir-server:subscription-owner"


def snapshot(acc: Any) -> Json | None:
    """The restriction of a caller, as data (None: unrestricted)."""
    if not getattr(acc, "restricted", False):
        return None
    p = getattr(acc, "principal", None)
    if p is None:
        return {"deny": True}  # a restricted caller we cannot describe: notify of nothing
    return {"client_id": p.client_id, "sub": p.subject, "scope": p.scopes.text, "patient": p.patient,
            "encounter": p.encounter, "fhirUser": p.fhir_user}


def stamp(resource: Json) -> Json:
    """The Subscription with the current caller recorded as its owner (client-sent owner data dropped)."""
    meta = dict(resource.get("meta") or {})
    exts = [e for e in meta.get("extension", []) if not (isinstance(e, dict) and e.get("url") == OWNER_EXT)]
    snap = snapshot(access.current())
    if snap is not None:
        exts.append({"url": OWNER_EXT, "valueString": orjson.dumps(snap).decode()})
    if exts:
        meta["extension"] = exts
    else:
        meta.pop("extension", None)
    out = {**resource}
    if meta:
        out["meta"] = meta
    else:
        out.pop("meta", None)
    return out


def recorded(sub: Json) -> Json | None:
    for e in (sub.get("meta") or {}).get("extension", []):
        if isinstance(e, dict) and e.get("url") == OWNER_EXT and isinstance(e.get("valueString"), str):
            try:
                data = orjson.loads(e["valueString"])
            except orjson.JSONDecodeError:
                return {"deny": True}
            return data if isinstance(data, dict) else {"deny": True}
    return None


class _Nothing:
    restricted = True

    def require(self, interaction: str, res_type: str | None) -> None:
        from fhir_server.errors import Forbidden

        raise Forbidden("nothing is visible to this subscription")

    def condition(self, interaction: str, res_type: str) -> Any:
        return None


def restore(server: Any, snap: Json | None) -> Any:
    """The Access the owner had (None when unrestricted)."""
    if snap is None:
        return None
    if snap.get("deny"):
        return _Nothing()
    try:
        from smart_auth.compartment import Compartments
        from smart_auth.enforce import SmartAccess
        from smart_auth.scopes import Scopes
        from smart_auth.tokens import Principal
    except ImportError:
        return _Nothing()
    principal = Principal(str(snap.get("client_id", "")), str(snap.get("sub", "")), Scopes.parse(snap.get("scope")),
                          "subscription", None, 2**62, snap.get("patient"), snap.get("encounter"),
                          snap.get("fhirUser"))
    return SmartAccess(principal, Compartments(server))
