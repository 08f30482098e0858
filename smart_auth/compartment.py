"""The Patient compartment (http://hl7.org/fhir/R4/compartmentdefinition-patient.html) and SMART v2
query-constrained scopes, evaluated both as SQL (searches) and on resource content (reads, writes).

Both sides use what the search index uses: the parameters the R4 Patient CompartmentDefinition
lists for each type, extracted by the same compiled FHIRPath plans that fill ``idx_reference`` and
``idx_token``, so a search and a read can never disagree about what is in a compartment.
Constraints may use token parameters (``category=laboratory``, ``code=http://loinc.org|8867-4``):
``code``, ``system|code``, ``|code``, ``system|``, several values separated by commas.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fhir_server.search import compartments
from fhir_server.search.indexer import SearchIndexer
from fhir_server.search.registry import Registry
from fhir_server.search.sql import Cond, all_of, any_of
from fhir_server.search.types import reference, token

Json = dict[str, Any]
# Types outside the Patient compartment that hold no patient's data: a patient-context token may read
# and search them (a Medication its MedicationRequest names, the Practitioner who wrote a note). Any
# other non-member type (Binary, Bundle, Task, Device, ...) is out of reach of patient-context scopes.
SHARED_TYPES = frozenset({
    "ActivityDefinition", "CapabilityStatement", "CodeSystem", "ConceptMap", "DeviceDefinition", "Endpoint",
    "HealthcareService", "InsurancePlan", "Library", "Location", "Measure", "Medication", "MedicationKnowledge",
    "NamingSystem", "ObservationDefinition", "OperationDefinition", "Organization", "OrganizationAffiliation",
    "PlanDefinition", "Practitioner", "PractitionerRole", "Questionnaire", "SearchParameter", "Slot",
    "SpecimenDefinition", "StructureDefinition", "Substance", "ValueSet",
})
_TARGET_TYPE = reference.COLUMNS.index("target_type")
_TARGET_ID = reference.COLUMNS.index("target_id")
_SYSTEM, _CODE, _KIND = (token.COLUMNS.index(c) for c in ("system", "code", "kind"))
Value = tuple[str | None, str | None, bool]  # system, code, whether a '|' was given


def is_member(res_type: str) -> bool:
    return bool(compartments.members("Patient").get(res_type))


def _values(text: str) -> list[Value]:
    out: list[Value] = []
    for value in text.split(","):
        system, bar, code = value.partition("|")
        out.append((system or None, code or None, True) if bar else (None, value, False))
    return out


def _row_matches(row: tuple[Any, ...], value: Value) -> bool:
    system, code, bar = value
    if row[_KIND] != 0:
        return False
    if not bar:
        return bool(row[_CODE] == code)
    if code is None:
        return system is not None and bool(row[_SYSTEM] == system)
    return bool(row[_CODE] == code and row[_SYSTEM] == system)


def _value_sql(value: Value) -> Cond:
    system, code, bar = value
    if not bar:
        return Cond("code = %s", [code])
    if code is None:
        return Cond("system = %s", [system])
    if system is None:
        return Cond("code = %s AND system IS NULL", [code])
    return Cond("code = %s AND system = %s", [code, system])


class Compartments:
    """Compartment and constraint checks over the server's current registry and indexer."""

    def __init__(self, server: Any) -> None:
        self.server = server  # fhir_server.state.Server: its registry changes when SearchParameters do

    @property
    def registry(self) -> Registry:
        registry: Registry = self.server.registry
        return registry

    @property
    def indexer(self) -> SearchIndexer:
        indexer: SearchIndexer = self.server.indexer
        return indexer

    # ---- the compartment ------------------------------------------------------------------------

    def sql(self, patient: str, res_type: str) -> Cond:
        cond = compartments.condition(self.registry, "Patient", patient, res_type)
        if res_type == "Patient":  # the compartment's own Patient is in it
            return any_of([Cond("r.id = %s", [patient]), cond])
        return cond

    def contains(self, patient: str, res_type: str, resource: Json) -> bool:
        params = compartments.members("Patient").get(res_type, ())
        if res_type == "Patient" and resource.get("id") == patient:
            return True
        pids = {sp.pid for code in params if (sp := self.registry.get(res_type, code)) is not None}
        return any(row[_TARGET_TYPE] == "Patient" and row[_TARGET_ID] == patient
                   for row in self._rows(res_type, resource, pids))

    # ---- query constraints ----------------------------------------------------------------------

    def supports(self, res_type: str, query: tuple[tuple[str, str], ...]) -> bool:
        """Whether every constraint parameter is a token parameter of ``res_type``."""
        if res_type == "*":
            return False
        for name, _ in query:
            sp = self.registry.get(res_type, name)
            if sp is None or sp.type != "token" or sp.expression is None:
                return False
        return True

    def constraint_sql(self, res_type: str, query: tuple[tuple[str, str], ...]) -> Cond:
        if not self.supports(res_type, query):
            return Cond("false")
        conds = []
        for name, text in query:
            sp = self.registry.get(res_type, name)
            assert sp is not None
            match = any_of([_value_sql(v) for v in _values(text)])
            conds.append(Cond(f"r.rid IN (SELECT rid FROM idx_token WHERE pid = %s AND kind = 0 AND ({match.sql}))",
                              [sp.pid, *match.args]))
        return all_of(conds)

    def constraint_holds(self, res_type: str, query: tuple[tuple[str, str], ...], resource: Json) -> bool:
        if not self.supports(res_type, query):
            return False
        for name, text in query:
            sp = self.registry.get(res_type, name)
            assert sp is not None
            values = _values(text)
            if not any(_row_matches(row, v) for row in self._rows(res_type, resource, {sp.pid}) for v in values):
                return False
        return True

    def _rows(self, res_type: str, resource: Json, pids: set[int]) -> Iterator[tuple[Any, ...]]:
        """The index rows of these parameters for this content, exactly as the write path makes them."""
        return (row for _, row in self.indexer.param_rows(res_type, resource, pids))
