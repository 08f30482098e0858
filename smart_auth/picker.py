"""The patients a signed-in person may choose in the SMART App Launch 2.x standalone launch patient picker
(app-launch.html "launch/patient": "the EHR … prompts the user to select a patient").

A patient account reaches only its own record — its linked Patient, or for a RelatedPerson account
the patient it is related to. A practitioner or admin sees the patients the server's access rules
let that person read: the picker's search runs under the same ``Access`` a ``user/Patient.rs``
token of that user would have (``enforce.SmartAccess``, with the row rules of other components), and
the patient chosen is checked the same way, so a forged form cannot pick anyone else.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server import access
from fhir_server.interactions import search
from fhir_server.storage import repository
from fhir_server.storage.repository import Conn
from smart_auth.enforce import SmartAccess
from smart_auth.scopes import Scopes
from smart_auth.tokens import Principal
from smart_auth.users import User

Json = dict[str, Any]
READ_PATIENTS = Scopes.parse("user/Patient.rs")


def user_access(compartments: Any, user: User) -> SmartAccess:
    """What a ``user/Patient.rs`` token of ``user`` would be allowed."""
    principal = Principal("patient-picker", user.username, READ_PATIENTS, "patient-picker", None, 0,
                          fhir_user=user.fhir_user)
    return SmartAccess(principal, compartments)


async def _content(conn: Conn, res_type: str, res_id: str) -> Json | None:
    if not res_id or len(res_id) > 64:
        return None
    row = await repository.read(conn, res_type, res_id)
    if row is None or row.deleted or row.content is None:
        return None
    data = orjson.loads(row.content)
    return data if isinstance(data, dict) else None


async def own_patients(conn: Conn, user: User) -> list[str]:
    """The records of a patient account: its Patient, or the patient of its RelatedPerson."""
    kind, _, ident = (user.fhir_user or "").partition("/")
    if kind == "Patient":
        return [ident]
    if kind == "RelatedPerson":
        related = await _content(conn, "RelatedPerson", ident)
        ref = ((related or {}).get("patient") or {}).get("reference", "")
        if isinstance(ref, str) and ref.startswith("Patient/"):
            return [ref.split("/", 1)[1]]
    return []


def label(resource: Json) -> str:
    names = resource.get("name") or [{}]
    first = names[0] if isinstance(names[0], dict) else {}
    text = " ".join([*first.get("given", []), first.get("family", "")]).strip() or first.get("text") or resource["id"]
    return f"{text} ({resource.get('birthDate', 'birth date unknown')})"


async def patient_label(conn: Conn, patient_id: str) -> str:
    resource = await _content(conn, "Patient", patient_id)
    return label(resource) if resource else patient_id


async def choices(server: Any, compartments: Any, conn: Conn, base: str, user: User, name: str) -> list[Json]:
    """Patients the user may choose, as ``{"id", "label"}`` (at most 50; ``name`` narrows the search)."""
    if user.role == "patient":
        found = [await _content(conn, "Patient", pid) for pid in await own_patients(conn, user)]
        return [{"id": p["id"], "label": label(p)} for p in found if p is not None]
    params = [("_count", "50"), ("_elements", "name,birthDate")] + ([("name", name)] if name else [])
    with access.acting_as(user_access(compartments, user)):
        bundle = await search.search(server, conn, base, "Patient", params)
    out = []
    for entry in bundle.get("entry", []):
        res = entry.get("resource")
        if isinstance(res, dict) and res.get("resourceType") == "Patient":
            out.append({"id": res["id"], "label": label(res)})
    return out


async def may_choose(compartments: Any, conn: Conn, user: User, patient_id: str) -> bool:
    if user.role == "patient":
        return patient_id in await own_patients(conn, user)
    resource = await _content(conn, "Patient", patient_id)
    return resource is not None and user_access(compartments, user).permits("read", "Patient", resource)
