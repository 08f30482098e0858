"""AuditEvent resources (R4 auditevent.html) in the shape of IHE Basic Audit Log Patterns (BALP).

- ``type`` rest (audit-event-type) with ``subtype`` the restful-interaction; logins and token
  requests are DICOM 110114 "User Authentication" with subtype 110122 "Login" / IHE ITI-71 "Get
  Access Token";
- ``action`` C R U D E, ``recorded`` when the fact was stored, ``outcome`` 0 / 4 (a 4xx answer,
  failed authorization included) / 8 (a 5xx answer) with ``outcomeDesc``;
- ``agent``: the user (``who`` = the fhirUser, ``altId`` = the username; the requestor), the client
  application (``who.identifier`` = its client_id, ``network`` = the caller's IP address), or the
  server itself for a change made outside a client request;
- ``source``: this server (Application Server); ``entity``: the resources (versioned references),
  the patients they concern (role Patient), and the query of a search or operation (base64).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fhir_server.audit.classify import ACTIONS

Json = dict[str, Any]
CLIENT_SYSTEM = "urn:fhir-server:oauth-client-id"
USER_SYSTEM = "urn:fhir-server:username"
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
REST = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
        "display": "RESTful Operation"}
USER_AUTHENTICATION = {"system": _DCM, "code": "110114", "display": "User Authentication"}
LOGIN = {"system": _DCM, "code": "110122", "display": "Login"}
GET_ACCESS_TOKEN = {"system": "urn:ihe:event-type-code", "code": "ITI-71", "display": "Get Access Token"}
INTERACTION_SYSTEM = "http://hl7.org/fhir/restful-interaction"
APPLICATION = {"coding": [{"system": _DCM, "code": "110150", "display": "Application"}]}
HUMAN_USER = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                          "code": "humanuser", "display": "human user"}]}
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PERSON = {"system": _ENTITY_TYPE, "code": "1", "display": "Person"}
SYSTEM_OBJECT = {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"}
PATIENT_ROLE = {"system": _ROLE, "code": "1", "display": "Patient"}
DOMAIN_RESOURCE = {"system": _ROLE, "code": "4", "display": "Domain Resource"}
SECURITY_RESOURCE = {"system": _ROLE, "code": "13", "display": "Security Resource"}
QUERY = {"system": _ROLE, "code": "24", "display": "Query"}
APPLICATION_SERVER = {"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                      "display": "Application Server"}
WRITE_ACTIONS = {"create": "C", "update": "U", "delete": "D"}
QUERIES = ("search-type", "search-system", "history-type", "history-system", "operation")
SUBTYPE_OF_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def instant(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outcome(status: int) -> str:
    return "0" if status < 400 else "4" if status < 500 else "8"


def agents(agent: Json | None) -> list[Json]:
    """The user (requestor when known), the client application with the network address."""
    if agent is None:
        return [{"type": APPLICATION, "who": {"display": "fhir-server (a change made outside a client request)"},
                 "requestor": True}]
    network = {"address": agent["ip"], "type": "2"} if agent.get("ip") else None
    out: list[Json] = []
    user, username = agent.get("user"), agent.get("username")
    if user or username:
        entry: Json = {"type": HUMAN_USER, "requestor": True}
        entry["who"] = ({"reference": user} if user else
                        {"identifier": {"system": USER_SYSTEM, "value": username}, "display": username})
        if username:
            entry["altId"] = username
            entry["name"] = username
        out.append(entry)
    client = agent.get("client")
    app: Json = {"type": APPLICATION, "requestor": not out}
    app["who"] = ({"identifier": {"system": CLIENT_SYSTEM, "value": client}, "display": client} if client
                  else {"display": "client without an access token"})
    if network:
        app["network"] = network
    out.append(app)
    return out


def resource_entity(ref: str) -> Json:
    if ref.startswith("Patient/"):
        return {"what": {"reference": ref}, "type": PERSON, "role": PATIENT_ROLE}
    return {"what": {"reference": ref}, "type": SYSTEM_OBJECT, "role": DOMAIN_RESOURCE}


def patient_entities(patients: Iterable[str]) -> list[Json]:
    return [{"what": {"reference": f"Patient/{p}"}, "type": PERSON, "role": PATIENT_ROLE} for p in patients]


def query_entity(method: str, path: str, query: str) -> Json:
    url = f"{path}?{query}" if query else path
    return {"type": SYSTEM_OBJECT, "role": QUERY, "query": base64.b64encode(url.encode()).decode(),
            "description": f"{method} {url}"[:2000]}


def _base_event(when: datetime, base: str, kind: Json, subtypes: list[Json], action: str, status: int,
                desc: str | None) -> Json:
    event: Json = {"resourceType": "AuditEvent", "type": kind, "subtype": subtypes, "action": action,
                   "recorded": instant(when), "outcome": outcome(status)}
    if status >= 400:
        event["outcomeDesc"] = (desc or f"HTTP {status}")[:2000]
    event["source"] = {"site": base, "observer": {"identifier": {"system": "urn:ietf:rfc:3986", "value": base},
                                                  "display": "fhir-server"}, "type": [APPLICATION_SERVER]}
    return event


def request_event(fact: Json, when: datetime, base: str, patients: list[str]) -> Json:
    """The AuditEvent of one request fact (see ``middleware.fact``)."""
    status = int(fact.get("status") or 0)
    kind = fact.get("kind")
    if kind in ("login", "token"):
        sub = LOGIN if kind == "login" else GET_ACCESS_TOKEN
        event = _base_event(when, base, USER_AUTHENTICATION, [sub], "E", status, fact.get("desc"))
        event["agent"] = agents(fact.get("agent") or {})
        scope = (fact.get("agent") or {}).get("scope")
        if kind == "token" and status < 400 and scope:
            event["entity"] = [{"type": SYSTEM_OBJECT, "role": SECURITY_RESOURCE, "name": "access token",
                                "detail": [{"type": "scope", "valueString": scope}]}]
        return event
    code = fact.get("code")
    subtypes = [{"system": INTERACTION_SYSTEM, "code": code, "display": code}] if code else []
    event = _base_event(when, base, REST, subtypes, ACTIONS.get(code or "", "E"), status, fact.get("desc"))
    event["agent"] = agents(fact.get("agent") or {})
    entities: list[Json] = []
    res_type, res_id, vid = fact.get("type"), fact.get("id"), fact.get("vid")
    if res_type and res_id:
        ref = f"{res_type}/{res_id}" + (f"/_history/{vid}" if vid else "")
        entities.append(resource_entity(ref))
    if code in QUERIES or code is None or fact.get("q"):
        entities.append(query_entity(fact.get("m", "GET"), fact.get("p", "/"), fact.get("q", "")))
    entities += patient_entities(p for p in patients if not (res_type == "Patient" and p == res_id))
    if entities:
        event["entity"] = entities
    return event


def write_event(ctx: Json | None, subtype: str, action: str, when: datetime, base: str,
                refs: list[str], patients: list[str]) -> Json:
    """One AuditEvent for the changes of one request (or transaction) with the same subtype and action."""
    event = _base_event(when, base, REST, [{"system": INTERACTION_SYSTEM, "code": subtype, "display": subtype}],
                        action, 201 if action == "C" else 200, None)
    event["agent"] = agents(ctx.get("agent") if ctx else None)
    entities = [resource_entity(r) for r in refs]
    if ctx and ctx.get("q"):
        entities.append(query_entity(ctx.get("m", ""), ctx.get("p", ""), ctx["q"]))
    shown = {r.split("/_history/")[0] for r in refs}
    entities += patient_entities(p for p in patients if f"Patient/{p}" not in shown)
    event["entity"] = entities
    return event
