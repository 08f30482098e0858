"""SMART App Launch 2.x scopes enforced on R4 interactions: the ``fhir_server.access.Access`` of a token.

A request is allowed when one of the token's clinical scopes grants the interaction's letter
(c, r, u, d, s) on the resource type. What it may then see or write:

- ``system/`` scopes: every resource of the type;
- ``user/`` scopes: every resource of the type, except for a user whose ``fhirUser`` is a Patient,
  who reaches only that patient's compartment;
- ``patient/`` scopes: only the context patient's compartment; types outside the compartment only
  when they hold no patient's data (``compartment.SHARED_TYPES``, read and search only);
- a query constraint (``patient/Observation.rs?category=laboratory``) narrows it further;
- through patient/ and user/ scopes, the row rules of the type (``fhir_server.access.row_rules``,
  e.g. a conversation is visible to its participants) apply to the reader: the token's fhirUser,
  or else the patient in context.

Several scopes granting the same letter add up (their restrictions are OR-ed).
"""

from __future__ import annotations

from typing import Any

from fhir_server.access import SCOPE_HEADER, row_rules
from fhir_server.errors import Forbidden
from fhir_server.search.sql import Cond, all_of, any_of
from smart_auth.compartment import SHARED_TYPES, Compartments, is_member
from smart_auth.scopes import INTERACTION_LETTER, ResourceScope
from smart_auth.tokens import Principal

Json = dict[str, Any]
READS = frozenset("rs")


class SmartAccess:
    """What the holder of one access token may do."""

    restricted = True

    def __init__(self, principal: Principal, compartments: Compartments) -> None:
        self.principal = principal
        self.compartments = compartments
        fhir_user = principal.fhir_user or ""
        self.user_patient = fhir_user.split("/", 1)[1] if fhir_user.startswith("Patient/") else None

    def _patient_of(self, scope: ResourceScope) -> str | None:
        """The compartment a scope is confined to ('' when confined but no patient is known)."""
        if scope.context == "patient":
            return self.principal.patient or ""
        if scope.context == "user" and self.user_patient is not None:
            return self.user_patient
        return None

    def _reader(self, scope: ResourceScope) -> str | None:
        """Who reads through a scope, for the row rules: the user, else the patient in context."""
        if self.principal.fhir_user:
            return self.principal.fhir_user
        return f"Patient/{self.principal.patient}" if scope.context == "patient" and self.principal.patient else None

    def _granting(self, letter: str, res_type: str | None) -> list[ResourceScope]:
        out = []
        for scope in self.principal.scopes.resources:
            if not scope.grants(letter, res_type):
                continue
            patient = self._patient_of(scope)
            if patient == "":
                continue  # a patient scope without a patient in context grants nothing
            confined = patient is not None and res_type is not None and not is_member(res_type)
            if confined and (res_type not in SHARED_TYPES or letter not in READS):
                continue
            out.append(scope)
        return out

    def require(self, interaction: str, res_type: str | None) -> None:
        letter = INTERACTION_LETTER.get(interaction)
        if letter is None or not self._granting(letter, res_type):
            what = f"{interaction} on {res_type}" if res_type else interaction
            raise Forbidden(f"The access token's scopes ({self.principal.scopes.text or 'none'}) do not allow {what}",
                            headers=SCOPE_HEADER)

    def types(self, interaction: str, candidates: list[str]) -> list[str]:
        letter = INTERACTION_LETTER.get(interaction, "")
        return [t for t in candidates if self._granting(letter, t)]

    def condition(self, interaction: str, res_type: str) -> Cond | None:
        conds: list[Cond] = []
        for scope in self._granting(INTERACTION_LETTER.get(interaction, ""), res_type):
            parts = []
            patient = self._patient_of(scope)
            if patient is not None and is_member(res_type):
                parts.append(self.compartments.sql(patient, res_type))
            if scope.query:
                parts.append(self.compartments.constraint_sql(res_type, scope.query))
            if scope.context != "system":
                reader = self._reader(scope)
                parts += [rule.sql(self.compartments.registry, reader, scope.context) for rule in row_rules(res_type)]
            if not parts:
                return None
            conds.append(all_of(parts))
        return any_of(conds) if conds else Cond("false")

    def permits(self, interaction: str, res_type: str, resource: Json) -> bool:
        for scope in self._granting(INTERACTION_LETTER.get(interaction, ""), res_type):
            patient = self._patient_of(scope)
            if patient is not None and is_member(res_type) and \
                    not self.compartments.contains(patient, res_type, resource):
                continue
            if scope.query and not self.compartments.constraint_holds(res_type, scope.query, resource):
                continue
            reader = self._reader(scope)
            if scope.context != "system" and not all(
                    rule.allows(self.compartments.indexer, reader, scope.context, resource)
                    for rule in row_rules(res_type)):
                continue
            return True
        return False
