"""$summarize (urn:fhir-server:OperationDefinition:summarize): ``Patient/[id]/$summarize``, ``Encounter/[id]/…``.

gather (what the caller may read) → facts (coded, aliased, no identifiers) → the model or the
offline templates → citations checked → Composition + Provenance → stored only with
``persist=true`` and only after the model has answered.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from extensions.ai import citations, llm, offline
from extensions.ai.access import AccessPolicy, policy, require_write
from extensions.ai.common import MODES, check_names, code, describe_patient, use_model, visible_patient
from extensions.ai.composition import Agent, composition, provenance
from extensions.ai.definitions import SUMMARIZE
from extensions.ai.deidentify import DateShift, identifying_terms
from extensions.ai.facts import facts
from extensions.ai.gather import Gatherer, Record, Window, gather
from extensions.ai.persist import create_all
from extensions.ai.prompt import SECTION_KEYS, TEMPLATE_BASE, summary_prompt
from fhir_server import __version__
from fhir_server.errors import BadRequest, Forbidden, MethodNotAllowed, Unprocessable
from fhir_server.fhir.json import instant, now
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.operations.params import parameters_resource

Json = dict[str, Any]
_SECTION_OF = {"observations": ("vitals", "results")}  # record kinds → the sections they feed


def _window(ctx: OperationContext) -> Window:
    start, end = ctx.params.date("start"), ctx.params.date("end")
    if start and end and start[0] >= end[1]:
        raise BadRequest("'start' must not be after 'end'", expression=["start", "end"])
    return Window(ctx.params.str("start"), ctx.params.str("end"))


async def _record(ctx: OperationContext, access: AccessPolicy, window: Window, today: str) -> Record:
    async with ctx.server.pool.connection() as conn:
        g = Gatherer(ctx.server, conn, access, ctx.base)
        res_id = str(ctx.res_id)
        if ctx.res_type == "Encounter":
            encounter = await g.one("Encounter", res_id, None)
            if encounter is None:
                raise Forbidden(f"The caller may not read Encounter/{res_id}")
            subject = str((encounter.get("subject") or {}).get("reference", ""))
            if not subject.startswith("Patient/"):
                raise Unprocessable(f"Encounter/{res_id} has no Patient subject to summarize")
            patient = await visible_patient(g, subject.removeprefix("Patient/"))
            record = await gather(g, patient, Window(), today, encounter)
            if window.set:
                record.notes.append("start/end do not apply to an Encounter summary: it covers the encounter")
            return record
        return await gather(g, await visible_patient(g, res_id), window, today)


@operation("summarize", instance=True, resource_types=("Patient", "Encounter"), definition=SUMMARIZE)
async def summarize(ctx: OperationContext) -> OperationResult:
    check_names(ctx, SUMMARIZE)
    access = policy(ctx.access)
    audience = code(ctx, "audience", ("clinician", "patient"), "clinician")
    with_model = use_model(ctx, code(ctx, "mode", MODES, "auto"))
    persist = bool(ctx.params.bool("persist", False))
    shift = DateShift.random() if ctx.params.bool("shiftDates", False) else DateShift(0)
    window = _window(ctx)
    if persist:
        if ctx.method != "POST":
            raise MethodNotAllowed("persist=true stores resources: invoke $summarize with POST",
                                   headers={"Allow": "POST"})
        require_write(access, "Composition", "Provenance")
    started = now()
    record = await _record(ctx, access, window, started.date().isoformat())
    if with_model:
        draft, agent, inputs, trail = await _with_model(ctx, record, audience, window, shift, started)
    else:
        draft, agent, inputs, trail = _offline(record, started)
    stamp = instant(started)
    subject = f"Patient/{record.patient['id']}"
    encounter = f"Encounter/{record.encounter['id']}" if record.encounter else None
    withheld = {key for kind in record.withheld for key in _SECTION_OF.get(kind, (kind,))}
    order = [k for k in SECTION_KEYS if k in draft.sections or k in withheld] if with_model else offline.ORDER
    comp = composition(str(uuid.uuid4()), subject, encounter, draft, order, audience, agent, stamp, withheld,
                       (window.start, window.end))
    prov = provenance(str(uuid.uuid4()), comp, persist, inputs, agent, trail, stamp)
    if persist:
        comp, prov = await create_all(ctx.server, [("Composition", comp), ("Provenance", prov)])
    out: list[tuple[str, Any]] = [
        ("composition", comp), ("provenance", prov), ("mode", ("valueCode", "model" if with_model else "offline")),
        ("citationsDropped", ("valueInteger", draft.dropped)),
        ("statementsWithoutSource", ("valueInteger", draft.unsourced)),
    ]
    out += [("note", ("valueString", n)) for n in record.notes]
    return OperationResult(resource=parameters_resource(out))


async def _with_model(ctx: OperationContext, record: Record, audience: str, window: Window, shift: DateShift,
                      started: datetime) -> tuple[citations.Draft, Agent, list[Any], Json]:
    settings = ctx.server.settings
    sent = facts(record, shift)
    period = None
    if window.set:
        period = f"{shift.apply(window.start) or 'the beginning'} to {shift.apply(window.end) or 'now'}"
    who = describe_patient(record.patient, started.date())
    prompt = summary_prompt(audience, who, period, sent, identifying_terms(record.patient), record.notes)
    answer = await llm.complete(settings, prompt.messages)
    draft = citations.resolve(llm.parse_json(answer), sent, shift)
    agent = Agent("AI language model", settings.openai_model, answer.model, f"{prompt.template}/{prompt.version}")
    trail = prompt.record({"policy": prompt.canonical, "dateShiftDays": shift.days, "model": answer.model,
                           "completionId": answer.id, "answer": answer.content})
    return draft, agent, sent, trail


def _offline(record: Record, started: datetime) -> tuple[citations.Draft, Agent, list[Any], Json]:
    draft = offline.summarize(record, facts(record, DateShift(0), limits=None), started)
    name, version = offline.TEMPLATE.split("/")
    agent = Agent("Rule-based summarizer", "fhir-server offline summarizer", __version__, offline.TEMPLATE)
    trail = {"template": name, "templateVersion": version, "policy": f"{TEMPLATE_BASE}{name}:{version}",
             "messages": [], "note": "offline summary: nothing was sent to a model"}
    return draft, agent, offline.used(draft), trail
