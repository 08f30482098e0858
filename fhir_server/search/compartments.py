"""Compartment search (http://hl7.org/fhir/R4/compartmentdefinition.html): ``Patient/123/Observation``.

From the R4 CompartmentDefinitions: a resource is in ``Patient/123``'s compartment when one of the
listed reference parameters of its type points at Patient/123 (``{def}``: it is that resource).
"""

from __future__ import annotations

from functools import cache

from fhir_server import definitions
from fhir_server.errors import BadRequest
from fhir_server.search.registry import Registry
from fhir_server.search.sql import Cond


@cache
def members(compartment: str) -> dict[str, tuple[str, ...]]:
    """Resource type → the parameters that link it to a compartment of this type."""
    cd = definitions.compartment_definitions().get(compartment)
    if cd is None:
        return {}
    return {r["code"]: tuple(r.get("param", [])) for r in cd.get("resource", []) if r.get("param")}


def condition(registry: Registry, compartment: str, owner_id: str, res_type: str) -> Cond:
    """Rows of ``res_type`` in the compartment of ``compartment/owner_id``."""
    if compartment not in definitions.compartment_definitions():
        raise BadRequest(f"{compartment} is not a compartment type (Patient, Encounter, RelatedPerson, "
                         "Practitioner, Device)")
    params = members(compartment).get(res_type)
    if not params:
        raise BadRequest(f"{res_type} resources are not part of a {compartment} compartment")
    options: list[Cond] = []
    pids = []
    for code in params:
        if code == "{def}":
            options.append(Cond("r.id = %s", [owner_id]))
            continue
        sp = registry.get(res_type, code)
        if sp is not None and sp.type == "reference":
            pids.append(sp.pid)
    if pids:
        options.append(Cond(
            "r.rid IN (SELECT rid FROM idx_reference WHERE pid = ANY(%s) AND target_type = %s AND target_id = %s)",
            [pids, compartment, owner_id],
        ))
    if not options:
        return Cond("false")
    return Cond(" OR ".join(f"({o.sql})" for o in options), [a for o in options for a in o.args])
