"""Chat Completions messages (https://platform.openai.com/docs/api-reference/chat/create): prompt templates.

A template's version is part of the audit trail (Provenance): change the wording, bump the version.
Prompts carry clinical facts and the patient's sex and age only; the finished text is scrubbed of
the patient's identifying strings (``deidentify.scrub``) before it is sent, and kept as sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extensions.ai.deidentify import scrub
from extensions.ai.facts import Fact

SECTION_KEYS = ("overview", "problems", "medications", "allergies", "vitals", "results", "immunizations",
                "procedures", "encounters", "appointments")
TEMPLATE_BASE = "urn:fhir-server:prompt:"

_SUMMARY_RULES = (
    "Use only the facts listed; never invent values, diagnoses, medications or dates. "
    "Every statement must cite the ids (R1, R2, ...) of the facts it is based on. "
    "Write dates exactly as YYYY-MM-DD. "
    "Answer with one JSON object and nothing else: "
    '{"sections": [{"key": <one of ' + ", ".join(SECTION_KEYS) + '>, '
    '"statements": [{"text": <one sentence>, "sources": [<fact ids>]}]}]}.'
)
_AUDIENCES = {
    "clinician": "You summarise one patient's health record for a clinician: concise, clinical terms, "
                 "most relevant first (active problems, current medications, allergies, recent results). ",
    "patient": "You explain one patient's health record to the patient. Write in plain language that a "
               "12-year-old can read: short sentences, everyday words, explain any medical term, address the "
               "patient as 'you', stay calm and factual, and suggest asking the care team about anything "
               "unclear. ",
}
_TRIAGE = (
    "You help a patient decide how soon to seek care for the symptoms they describe. You do not diagnose "
    "and you never name a disease as certain. Choose exactly one care level: emergency (call emergency "
    "services now), urgent (see a clinician today), routine (book a visit in the coming days), self-care "
    "(manage at home, seek care if it gets worse). When unsure, choose the more urgent level. Answer with "
    'one JSON object and nothing else: {"careLevel": <emergency|urgent|routine|self-care>, '
    '"reasons": [<short reasons in plain language>], "advice": <two or three plain sentences>}.'
)
VERSIONS = {"summarize-clinician": "1", "summarize-patient": "1", "triage": "1"}


@dataclass(slots=True)
class Prompt:
    """The messages as sent, and how they were made."""

    template: str  # e.g. summarize-clinician
    messages: list[dict[str, str]]
    redactions: int = 0
    aliases: dict[str, str] = field(default_factory=dict)  # R1 → Condition/abc/_history/2

    @property
    def version(self) -> str:
        return VERSIONS[self.template]

    @property
    def canonical(self) -> str:
        return f"{TEMPLATE_BASE}{self.template}:{self.version}"

    def record(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the audit trail keeps of this prompt."""
        return {"template": self.template, "templateVersion": self.version, "messages": self.messages,
                "redactions": self.redactions, "aliases": self.aliases, **(extra or {})}


def _scrubbed(template: str, system: str, user: str, terms: list[str]) -> Prompt:
    user, n = scrub(user, terms)
    system, m = scrub(system, terms)
    return Prompt(template, [{"role": "system", "content": system}, {"role": "user", "content": user}], n + m)


def summary_prompt(audience: str, who: str, period: str | None, facts: list[Fact], terms: list[str],
                   notes: list[str]) -> Prompt:
    lines = [f"Patient: {who}."]
    if period:
        lines.append(f"Period summarised: {period}.")
    lines += [f"Note: {n}." for n in notes]
    lines.append("Facts (id | type | content):")
    lines += [f.line() for f in facts] or ["(no facts recorded)"]
    prompt = _scrubbed(f"summarize-{audience}", _AUDIENCES[audience] + _SUMMARY_RULES, "\n".join(lines), terms)
    prompt.aliases = {f.alias: f"{f.reference}/_history/{f.version}" for f in facts}
    return prompt


def triage_prompt(who: str, symptoms: str, terms: list[str]) -> Prompt:
    user = f"Patient: {who}.\nSymptoms in the patient's words:\n{symptoms}"
    return _scrubbed("triage", _TRIAGE, user, terms)
