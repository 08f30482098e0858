"""The patient entity of an AuditEvent (IHE BALP: "when the data is about a patient, the patient is an
entity with role Patient"): the patients a resource, a search or an operation concerns.

A resource concerns the patients whose compartment it is in (R4 compartmentdefinition-patient),
worked out with the same compiled expressions that fill the search index; a search concerns the
patient it names (``patient=``, ``subject=Patient/…``, ``Patient?_id=``, ``Patient/123/Observation``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fhir_server.search import compartments
from fhir_server.search.indexer import SearchIndexer
from fhir_server.search.normalize import parse_reference
from fhir_server.search.types import reference

Json = dict[str, Any]
_TYPE = reference.COLUMNS.index("target_type")
_ID = reference.COLUMNS.index("target_id")
PATIENT_PARAMS = ("patient", "subject", "beneficiary")
MAX_PATIENTS = 20


def of_resource(indexer: SearchIndexer, res_type: str, resource: Json) -> list[str]:
    """Ids of the patients whose compartment ``resource`` belongs to."""
    if res_type == "Patient":
        rid = resource.get("id")
        return [rid] if isinstance(rid, str) else []
    params = compartments.members("Patient").get(res_type, ())
    pids = {sp.pid for code in params if (sp := indexer.registry.get(res_type, code)) is not None}
    found: list[str] = []
    for _, row in indexer.param_rows(res_type, resource, pids):
        if row[_TYPE] == "Patient" and row[_ID] not in found:
            found.append(row[_ID])
    return found[:MAX_PATIENTS]


def of_query(res_type: str | None, query: str, compartment: str | None, base: str) -> list[str]:
    """Ids of the patients a search names."""
    found: list[str] = []
    if compartment and compartment.startswith("Patient/"):
        found.append(compartment.split("/", 1)[1])
    for name, value in parse_qsl(query, keep_blank_values=False):
        code, _, modifier = name.partition(":")
        if code == "_id" and res_type == "Patient":
            found += [v for v in value.split(",") if v]
            continue
        if code not in PATIENT_PARAMS or modifier not in ("", "Patient"):
            continue
        for v in value.split(","):
            t, i, _, _ = parse_reference(v, base)
            if t is None and "/" not in v and v and (code == "patient" or modifier == "Patient"):
                t, i = "Patient", v
            if t == "Patient" and i and i not in found:
                found.append(i)
    return found[:MAX_PATIENTS]
