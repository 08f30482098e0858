"""$triage (urn:fhir-server:OperationDefinition:triage): ``POST Patient/[id]/$triage`` — how soon to seek care.

Red-flag rules first (an emergency answer without waiting for any model), then the model's care
level with reasons (rules only when no model is configured or ``mode=offline``). The answer is
recorded as a Communication to the patient (Communication.category, priority from the R4 value
sets) carrying a not-a-diagnosis notice; nothing is recorded if the model call fails.
"""

from __future__ import annotations

import uuid
from typing import Any

from extensions.ai import llm, redflags
from extensions.ai.access import policy, require_write
from extensions.ai.common import MODES, check_names, code, describe_patient, use_model, visible_patient
from extensions.ai.definitions import TRIAGE
from extensions.ai.deidentify import identifying_terms
from extensions.ai.gather import Gatherer
from extensions.ai.persist import create_all
from extensions.ai.prompt import triage_prompt
from fhir_server.errors import BadRequest
from fhir_server.fhir.json import instant, now
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.operations.params import parameters_resource

Json = dict[str, Any]
LEVELS = ("emergency", "urgent", "routine", "self-care")
PRIORITY = {"emergency": "stat", "urgent": "urgent", "routine": "routine", "self-care": "routine"}
MAX_SYMPTOMS = 4000
NOTICE = ("This is not a diagnosis and does not replace a clinician. If your symptoms get worse or you are "
          "worried, contact your care team or call your local emergency number.")
OFFLINE_REASON = ("No emergency warning signs were found in your description; an automatic assessment of "
                  "anything else is not available on this server.")
OFFLINE_ADVICE = ("Contact your care team to talk about these symptoms. Call your local emergency number at once "
                  "if you get chest pain, trouble breathing, signs of a stroke, heavy bleeding or fainting.")
CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"


def _symptoms(ctx: OperationContext) -> str:
    text = ctx.params.str("symptoms")
    if text is None or not text.strip():
        raise BadRequest("Parameter 'symptoms' (the symptoms in the patient's words) is required",
                         expression=["symptoms"])
    if len(text) > MAX_SYMPTOMS:
        raise BadRequest(f"Parameter 'symptoms' is limited to {MAX_SYMPTOMS} characters", expression=["symptoms"])
    return text.strip()


def _model_answer(data: dict[str, Any]) -> tuple[str, list[str], str]:
    level = data.get("careLevel")
    if level not in LEVELS:
        raise llm.BadGateway(f"The AI service answered an unknown care level {str(level)[:40]!r}")
    reasons = [str(r)[:500] for r in data.get("reasons") or [] if isinstance(r, str) and r.strip()][:10]
    advice = data.get("advice")
    return str(level), reasons, (str(advice)[:2000] if isinstance(advice, str) and advice.strip() else NOTICE)


def communication(patient_id: str, level: str, reasons: list[str], advice: str, symptoms: str, sender: str,
                  sent: str) -> Json:
    lines = [f"Suggested care level: {level}.", advice, *(f"- {r}" for r in reasons), NOTICE]
    return {
        "resourceType": "Communication", "id": str(uuid.uuid4()),
        "contained": [{"resourceType": "Device", "id": "assistant", "type": {"text": "Symptom triage assistant"},
                       "deviceName": [{"name": "fhir-server $triage", "type": "user-friendly-name"}],
                       "version": [{"value": sender}]}],
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY, "code": "alert" if level == "emergency" else "instruction"}]}],
        "priority": PRIORITY[level],
        "subject": {"reference": f"Patient/{patient_id}"},
        "recipient": [{"reference": f"Patient/{patient_id}"}],
        "sender": {"reference": "#assistant"},
        "sent": sent,
        "reasonCode": [{"text": f"Symptom triage: {level}"}],
        "payload": [{"contentString": "\n".join(lines)}],
        "note": [{"text": f"Symptoms as described by the patient: {symptoms}"}],
    }


@operation("triage", instance=True, resource_types=("Patient",), affects_state=True, definition=TRIAGE)
async def triage(ctx: OperationContext) -> OperationResult:
    check_names(ctx, TRIAGE)
    access = policy(ctx.access)
    symptoms = _symptoms(ctx)
    with_model = use_model(ctx, code(ctx, "mode", MODES, "auto"))
    require_write(access, "Communication")
    async with ctx.server.pool.connection() as conn:
        patient = await visible_patient(Gatherer(ctx.server, conn, access, ctx.base), str(ctx.res_id))
    started = now()
    flags = redflags.check(symptoms)
    if flags:
        level, reasons, advice, source, sender = "emergency", [r.reason for r in flags], redflags.advice(flags), \
            "rules", "red-flag rules"
    elif with_model:
        prompt = triage_prompt(describe_patient(patient, started.date()), symptoms, identifying_terms(patient))
        answer = await llm.complete(ctx.server.settings, prompt.messages)
        level, reasons, advice = _model_answer(llm.parse_json(answer))
        source, sender = "model", f"{answer.model} ({prompt.template}/{prompt.version})"
    else:
        level, reasons, advice, source, sender = "routine", [OFFLINE_REASON], OFFLINE_ADVICE, "offline", "rules"
    comm = communication(str(patient["id"]), level, reasons, advice, symptoms, sender, instant(started))
    (stored,) = await create_all(ctx.server, [("Communication", comm)])
    out: list[tuple[str, Any]] = [("careLevel", ("valueCode", level)),
                                  ("emergency", ("valueBoolean", level == "emergency"))]
    out += [("redFlag", ("valueString", r.name)) for r in flags]
    out += [("reason", ("valueString", r)) for r in reasons]
    out += [("advice", ("valueString", advice)), ("notice", ("valueString", NOTICE)),
            ("source", ("valueCode", source)), ("communication", stored)]
    return OperationResult(resource=parameters_resource(out))
