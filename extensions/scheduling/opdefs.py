"""OperationDefinitions and parameter parsing (http://hl7.org/fhir/R4/operationdefinition.html) for the
scheduling operations, after the Argonaut Scheduling IG's $find/$hold/$book shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from extensions.scheduling.workflow import CANONICAL, Json
from fhir_server.errors import BadRequest
from fhir_server.operations.params import Params

Param = tuple[str, str, int, str, str | None, str]  # name, use, min, max, type, documentation


def definition(code: str, title: str, description: str, *, type_level: bool, instance: bool,
               affects_state: bool, parameters: Sequence[Param], resource: str = "Appointment") -> Json:
    return {
        "resourceType": "OperationDefinition",
        "id": f"{resource}-{code}",
        "url": f"{CANONICAL}/OperationDefinition/{resource}-{code}",
        "name": title.replace(" ", ""),
        "title": title,
        "status": "active",
        "kind": "operation",
        "description": description,
        "affectsState": affects_state,
        "code": code,
        "resource": [resource],
        "system": False,
        "type": type_level,
        "instance": instance,
        "parameter": [_param(*p) for p in parameters],
    }


def _param(name: str, use: str, low: int, high: str, typ: str | None, doc: str) -> Json:
    out: Json = {"name": name, "use": use, "min": low, "max": high, "documentation": doc}
    if typ:
        out["type"] = typ
    if typ in ("string", "token", "reference", "date", "special") and use == "in":
        out["type"] = "string"
        out["searchType"] = typ if typ != "string" else "string"
    return out


def tokens(params: Params, name: str) -> list[tuple[str | None, str]]:
    """``system|code`` / ``code`` strings, Codings or CodeableConcepts → (system, code) pairs."""
    out: list[tuple[str | None, str]] = []
    for value in params.all(name):
        if isinstance(value, str):
            for part in value.split(","):
                system, sep, code = part.strip().rpartition("|")
                if not code:
                    raise BadRequest(f"Parameter '{name}': '{part}' has no code")
                out.append((system if sep else None, code))
        elif isinstance(value, dict):
            codings = value.get("coding") if "coding" in value else [value]
            for c in codings or []:
                if not isinstance(c, dict) or not isinstance(c.get("code"), str):
                    raise BadRequest(f"Parameter '{name}' needs a code")
                out.append((c.get("system") if isinstance(c.get("system"), str) else None, c["code"]))
        else:
            raise BadRequest(f"Parameter '{name}' must be a token (system|code)")
    return out


def references(params: Params, name: str, res_type: str) -> list[str]:
    """``Practitioner/1``, ``1`` or a Reference → ids of ``res_type``."""
    out = []
    for value in params.all(name):
        raw: Any = value.get("reference") if isinstance(value, dict) else value
        if not isinstance(raw, str) or not raw.strip():
            raise BadRequest(f"Parameter '{name}' must be a reference to a {res_type}")
        for part in raw.split(","):
            kind, sep, rid = part.strip().rstrip("/").rpartition("/")
            if sep and kind.split("/")[-1] != res_type:
                raise BadRequest(f"Parameter '{name}': '{part}' is not a {res_type} reference")
            if not rid:
                raise BadRequest(f"Parameter '{name}': '{part}' has no id")
            out.append(rid)
    return out


def matches(concepts: Any, wanted: list[tuple[str | None, str]]) -> bool:
    """Does any coding of these CodeableConcepts match one of the (system, code) tokens?"""
    for concept in concepts or []:
        for c in (concept.get("coding") or []) if isinstance(concept, dict) else []:
            for system, code in wanted:
                if c.get("code") == code and (system is None or (c.get("system") or "") == system):
                    return True
    return False
