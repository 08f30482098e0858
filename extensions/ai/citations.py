"""Composition.section.entry (http://hl7.org/fhir/R4/composition.html): statements and the resources they cite.

The model answers statements with the fact aliases they rest on. A citation counts only when it
names a fact that was in the prompt; anything else (an unknown alias, a made-up resource id) is
dropped and counted, and a statement left with no valid citation is kept but counted and shown as
unsourced, so a reader can tell what the record backs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from extensions.ai.deidentify import DateShift
from extensions.ai.facts import Fact
from extensions.ai.llm import BadGateway
from extensions.ai.prompt import SECTION_KEYS

MAX_STATEMENTS = 200
MAX_TEXT = 2000
_INLINE = re.compile(r"\s*[\[(]((?:R\d+)(?:\s*[,;]\s*R\d+)*)[\])]")


@dataclass(slots=True)
class Statement:
    text: str
    sources: list[Fact] = field(default_factory=list)


@dataclass(slots=True)
class Draft:
    """Statements per section key, in the order the model gave them."""

    sections: dict[str, list[Statement]] = field(default_factory=dict)
    dropped: int = 0  # citations of resources that were not in the input
    unsourced: int = 0  # statements without any valid citation


def _sources(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [str(s) for s in raw if isinstance(s, str | int)]
    return []


def resolve(data: dict[str, Any], facts: list[Fact], shift: DateShift) -> Draft:
    """Check every citation of the model's answer against the facts that were sent."""
    sections = data.get("sections")
    if not isinstance(sections, list):
        raise BadGateway("The AI service's answer has no 'sections' list")
    by_alias = {f.alias: f for f in facts}
    draft = Draft()
    count = 0
    for section in sections:
        if not isinstance(section, dict) or not isinstance(section.get("statements"), list):
            continue
        key = section.get("key") if section.get("key") in SECTION_KEYS else "overview"
        for raw in section["statements"]:
            if count >= MAX_STATEMENTS:
                break
            statement = _statement(raw, by_alias, shift, draft)
            if statement is not None:
                draft.sections.setdefault(str(key), []).append(statement)
                count += 1
    return draft


def _statement(raw: Any, by_alias: dict[str, Fact], shift: DateShift, draft: Draft) -> Statement | None:
    if isinstance(raw, str):
        raw = {"text": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str) or not raw["text"].strip():
        return None
    text = raw["text"].strip()[:MAX_TEXT]
    cited = _sources(raw.get("sources"))
    for m in _INLINE.finditer(text):
        cited += re.split(r"\s*[,;]\s*", m[1])
    text = _INLINE.sub("", text).strip()
    kept: list[Fact] = []
    for alias in cited:
        fact = by_alias.get(alias.strip())
        if fact is None:
            draft.dropped += 1
        elif fact not in kept:
            kept.append(fact)
    if not kept:
        draft.unsourced += 1
    return Statement(shift.restore(text), kept)
