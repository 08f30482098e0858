"""Red-flag rules: the warning signs match, plain negations cancel, suicidal intent is never read as negated."""

from __future__ import annotations

import pytest

from extensions.ai import redflags


def _names(text: str) -> list[str]:
    return [r.name for r in redflags.check(text)]


@pytest.mark.parametrize(("text", "flag"), [
    ("I have a tight chest pressure since an hour", "chest-pain"),
    ("Pain in my chest when I walk upstairs", "chest-pain"),
    ("My dad's face is drooping on one side", "stroke-signs"),
    ("sudden weakness on one side of my body", "stroke-signs"),
    ("Worst headache of my life, came on suddenly", "stroke-signs"),
    ("I can\u2019t breathe properly", "breathing-difficulty"),
    ("shortness of breath when lying down", "breathing-difficulty"),
    ("her lips are turning blue", "breathing-difficulty"),
    ("I keep thinking about suicide", "suicidal-intent"),
    ("I want to kill myself", "suicidal-intent"),
    ("I'm vomiting blood", "severe-bleeding"),
    ("my throat is swelling after eating peanuts", "anaphylaxis"),
    ("he passed out in the kitchen", "unconsciousness-or-seizure"),
    ("I think I took an overdose of my pills", "overdose-or-poisoning"),
])
def test_warning_signs_match(text: str, flag: str) -> None:
    assert flag in _names(text)


@pytest.mark.parametrize("text", [
    "Runny nose and a mild cough for two days",
    "My knee hurts after running",
    "I have a rash on my arm that itches",
    "No chest pain, just heartburn after dinner",
    "denies shortness of breath; mild sore throat",
])
def test_ordinary_complaints_and_negations_do_not_match(text: str) -> None:
    assert _names(text) == []


def test_negation_only_reaches_its_own_clause() -> None:
    assert _names("no fever, but chest pain since this morning") == ["chest-pain"]
    assert _names("No cough. I can't breathe") == ["breathing-difficulty"]


def test_suicidal_intent_is_never_negated() -> None:
    assert _names("I'm not sure, I don't want to live anymore") == ["suicidal-intent"]
    assert _names("no reason to go on, I want to end my life") == ["suicidal-intent"]


def test_advice_adds_each_rules_own_guidance() -> None:
    rules = redflags.check("chest pain and I want to die")
    advice = redflags.advice(rules)
    assert advice.startswith(redflags.EMERGENCY_ADVICE) and "988" in advice
