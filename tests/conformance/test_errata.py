"""R4 invariants whose published expression contradicts its intent are evaluated as later versions fixed them."""

from __future__ import annotations

from conformance.validation.invariants import compile_constraints, evaluate
from fhir_server.fhirpath.items import Item


def test_que7_accepts_a_boolean_answer_for_exists() -> None:
    # Questionnaire.item.enableWhen: operator 'exists' needs a boolean answer (R4 questionnaire.html que-7)
    published = [{"key": "que-7", "severity": "error", "human": "If the operator is 'exists', the value must be a "
                  "boolean", "expression": "operator = 'exists' implies (answer is Boolean)"}]
    (inv,) = compile_constraints(published, "Questionnaire.item.enableWhen")
    ok = {"question": "q1", "operator": "exists", "answerBoolean": True}
    bad = {"question": "q1", "operator": "exists", "answerString": "yes"}
    resource = {"resourceType": "Questionnaire", "status": "draft",
                "item": [{"linkId": "q2", "type": "string", "enableWhen": [ok, bad]}]}
    items = resource["item"][0]["enableWhen"]
    assert evaluate(inv, resource, Item(items[0], "Questionnaire.item.enableWhen")) is True
    assert evaluate(inv, resource, Item(items[1], "Questionnaire.item.enableWhen")) is False
