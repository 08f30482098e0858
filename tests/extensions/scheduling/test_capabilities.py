"""The scheduling operations are published (R4 capabilitystatement.html: rest.resource.operation with the
OperationDefinition canonical) and their OperationDefinitions are valid R4 resources."""

from __future__ import annotations

import httpx

from extensions.scheduling import book, cancel, find, geocode, hold
from fhir_server import validation
from fhir_server.model import model


def test_operation_definitions_are_valid() -> None:
    model()
    for definition in (find.DEFINITION, hold.DEFINITION, book.DEFINITION, cancel.DEFINITION,
                       geocode.INSTANCE_DEF, geocode.SYSTEM_DEF):
        errors = [i.message for i in validation.validate(definition) if i.severity in ("error", "fatal")]
        assert errors == [], (definition["id"], errors)


def test_capability_statement_lists_the_operations(c: httpx.Client) -> None:
    rest = c.get("/metadata").json()["rest"][0]
    appointment = next(r for r in rest["resource"] if r["type"] == "Appointment")
    ops = {o["name"]: o["definition"] for o in appointment["operation"]}
    for name, module in (("find", find), ("hold", hold), ("book", book), ("cancel", cancel)):
        assert ops[name] == module.DEFINITION["url"]
    location = next(r for r in rest["resource"] if r["type"] == "Location")
    assert {o["name"] for o in location["operation"]} >= {"geocode"}
    assert geocode.SYSTEM_DEF["url"] in {o["definition"] for o in rest["operation"]}
