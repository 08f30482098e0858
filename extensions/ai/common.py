"""Operation parameters (http://hl7.org/fhir/R4/operations.html#executing): checks shared by the AI operations.

Parameter names and codes are checked against the OperationDefinition, so a misspelt parameter
is a 400 rather than a silently ignored request; the anchor Patient is read with the caller's
restriction (403 when the caller may not see it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from extensions.ai.deidentify import age
from extensions.ai.gather import Gatherer
from extensions.ai.llm import configured
from fhir_server.errors import BadRequest, Forbidden, NotImplementedFeature
from fhir_server.operations import OperationContext

Json = dict[str, Any]
MODES = ("auto", "model", "offline")


def check_names(ctx: OperationContext, definition: Json) -> None:
    allowed = {p["name"] for p in definition["parameter"] if p["use"] == "in"}
    unknown = sorted(ctx.params.names() - allowed)
    if unknown:
        raise BadRequest(f"Unknown parameter(s) for ${definition['code']}: {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(allowed))})", expression=unknown)


def code(ctx: OperationContext, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = ctx.params.str(name, default) or default
    if value not in allowed:
        raise BadRequest(f"Parameter '{name}' must be one of {', '.join(allowed)}, not '{value}'",
                         expression=[name])
    return value


def use_model(ctx: OperationContext, mode: str) -> bool:
    """True when the model is to be called (``mode`` auto with a key, or model)."""
    if mode == "offline":
        return False
    if configured(ctx.server.settings):
        return True
    if mode == "model":
        raise NotImplementedFeature("No AI model is configured on this server (OPENAI_API_KEY); "
                                    "use mode=offline or leave mode out")
    return False


async def visible_patient(g: Gatherer, patient_id: str) -> Json:
    patient = await g.one("Patient", patient_id, None)
    if patient is None:
        raise Forbidden(f"The caller may not read Patient/{patient_id}")
    return patient


def describe_patient(patient: Json, today: date) -> str:
    """Sex and age only: what the model is told about who the patient is."""
    gender = patient.get("gender")
    sex = gender if isinstance(gender, str) and gender != "unknown" else "sex not recorded"
    return f"{sex}, age {age(patient.get('birthDate'), today)}"
