"""Emergency red flags (NHS 111 / AHA / NINDS "BE FAST" warning signs): deterministic rules run before any model.

A match answers at once with emergency guidance; the model is not consulted. The rules are
deliberately broad (over-triage is the safe error). Only a plain negation directly before the
words ("no chest pain", "denies shortness of breath") cancels a match, and never for suicidal
intent or overdose, where "I don't want to live" must not read as a negation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EMERGENCY_ADVICE = ("Call your local emergency number now (911 in the US, 112 in Europe) or go to the nearest "
                    "emergency department. Do not drive yourself and do not wait to see if it gets better.")
_NEGATION = re.compile(r"\b(no|denies|denied|without|never had|not having)\s+(\w+\s+)?$")
_CLAUSE = re.compile(r"[.;!?\n]|,\s*but\b|\bbut\b")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    reason: str
    advice: str
    patterns: tuple[str, ...]
    negatable: bool = True

    def compiled(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in self.patterns))


RULES = (
    Rule("chest-pain", "Chest pain or pressure can be a sign of a heart attack.", "",
         (r"chest\s+(pain|pressure|tightness|discomfort|hurts?)", r"pain\s+in\s+(my|the)\s+chest",
          r"heart\s+attack", r"pain\s+(spreading|radiating|going)\s+(to|down|into)\s+(my\s+)?(left\s+)?(arm|jaw)")),
    Rule("stroke-signs", "Face drooping, arm or leg weakness, speech trouble or a sudden severe headache can be "
         "signs of a stroke.", "Note the time the symptoms started.",
         (r"face\s+(is\s+)?(drooping|droops|droopy|numb)", r"droop\w*\s+(face|mouth|smile)",
          r"slurr\w*\s+(speech|words)", r"(can't|cannot|unable\s+to)\s+(speak|talk)",
          r"trouble\s+(speaking|talking)", r"(weak|numb)\w*\s+(in|on|of)\s+(one|my\s+left|my\s+right)\s+side",
          r"one\s+side\s+of\s+(my|the)\s+(body|face)", r"\bstroke\b", r"worst\s+headache",
          r"sudden\w*\s+(severe\s+)?(headache|confusion|vision\s+loss|loss\s+of\s+vision)")),
    Rule("breathing-difficulty", "Severe difficulty breathing needs emergency care.", "",
         (r"(can't|cannot|can\s+not|unable\s+to|not\s+able\s+to|struggling\s+to)\s+breathe",
          r"(difficulty|trouble|hard|struggling)\s+(to\s+)?breath(e|ing)", r"short(ness)?\s+of\s+breath",
          r"gasping", r"choking", r"(lips|face)\s+(are\s+|is\s+)?(turning\s+)?(blue|grey|gray)",
          r"breathless")),
    Rule("suicidal-intent", "Thoughts of ending your life are an emergency.",
         "If you are thinking about ending your life, call or text 988 (Suicide & Crisis Lifeline, US) or your "
         "local emergency number now. You are not alone.",
         (r"suicid", r"(kill|hurt|harm)\s+myself", r"end\s+(my\s+life|it\s+all)", r"(want|wish)\s+to\s+die",
          r"(don't|do\s+not)\s+want\s+to\s+(live|be\s+alive)", r"better\s+off\s+dead",
          r"take\s+my\s+(own\s+)?life"), negatable=False),
    Rule("severe-bleeding", "Heavy bleeding, or vomiting or coughing up blood, needs emergency care.", "",
         (r"(heavy|severe|uncontrolled|a\s+lot\s+of)\s+bleeding", r"bleeding\s+(heavily|a\s+lot|that\s+won't\s+stop"
          r"|won't\s+stop|will\s+not\s+stop)", r"(vomit\w*|throw\w*\s+up|cough\w*(\s+up)?)\s+blood",
          r"blood\s+in\s+(my\s+)?vomit")),
    Rule("anaphylaxis", "Swelling of the throat, tongue or lips can be a severe allergic reaction.",
         "If you have been prescribed an adrenaline (epinephrine) auto-injector, use it now.",
         (r"(throat|tongue|lips?)\s+(is\s+|are\s+|feels?\s+)?(swelling|swollen|closing|tight)",
          r"swelling\s+(of|in)\s+(my\s+|the\s+)?(throat|tongue|lips?|face)", r"anaphyla")),
    Rule("unconsciousness-or-seizure", "Fainting, unresponsiveness or a seizure needs emergency care.", "",
         (r"passed\s+out", r"faint(ed|ing)", r"unconscious", r"unresponsive", r"won't\s+wake", r"blacked\s+out",
          r"seizure", r"convuls")),
    Rule("overdose-or-poisoning", "A possible overdose or poisoning needs emergency care.",
         "In the US you can also call Poison Control at 1-800-222-1222.",
         (r"overdos", r"poison", r"swallowed\s+(bleach|detergent|battery|pills|a\s+bottle)"), negatable=False),
)
_COMPILED = [(rule, rule.compiled()) for rule in RULES]


def normalise(text: str) -> str:
    return " ".join(text.lower().replace("\u2019", "'").replace("\u2018", "'").split())


def _negated(text: str, start: int) -> bool:
    clause = _CLAUSE.split(text[:start])[-1]
    return _NEGATION.search(clause) is not None


def check(symptoms: str) -> list[Rule]:
    """The red-flag rules the description matches (in rule order)."""
    text = normalise(symptoms)
    hits = []
    for rule, pattern in _COMPILED:
        if any(not (rule.negatable and _negated(text, m.start())) for m in pattern.finditer(text)):
            hits.append(rule)
    return hits


def advice(rules: list[Rule]) -> str:
    extra = [r.advice for r in rules if r.advice]
    return " ".join([EMERGENCY_ADVICE, *extra])
