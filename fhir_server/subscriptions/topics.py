"""The SubscriptionTopics this server offers (backport IG: topic canonical URLs, resource triggers).

One topic per resource type for create, update and delete, plus one per interaction, e.g.
``urn:fhir-server:topic:Patient`` (any change) and ``urn:fhir-server:topic:Patient:create``.
They are advertised in the CapabilityStatement.
"""

from __future__ import annotations

from dataclasses import dataclass

TOPIC_TYPES = ("Patient", "Appointment", "Slot", "Communication", "Observation", "Encounter", "Schedule",
               "Practitioner", "PractitionerRole", "Location", "Organization", "Condition",
               "MedicationRequest", "DiagnosticReport")
ACTIONS = ("create", "update", "delete")
PREFIX = "urn:fhir-server:topic:"


@dataclass(frozen=True, slots=True)
class Topic:
    url: str
    res_type: str
    actions: frozenset[str]


def _all() -> dict[str, Topic]:
    out = {}
    for t in TOPIC_TYPES:
        out[f"{PREFIX}{t}"] = Topic(f"{PREFIX}{t}", t, frozenset(ACTIONS))
        for a in ACTIONS:
            out[f"{PREFIX}{t}:{a}"] = Topic(f"{PREFIX}{t}:{a}", t, frozenset({a}))
    return out


TOPICS = _all()


def topic(url: str) -> Topic | None:
    return TOPICS.get(url.split("|", 1)[0])
