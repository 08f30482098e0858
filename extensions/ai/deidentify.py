"""HIPAA Safe Harbor de-identification (45 CFR 164.514(b)(2)): what may leave the server in a prompt.

Prompts are built from coded clinical facts only, never from the Patient resource itself; the
patient is described by sex and age (ages of 90 and over collapse to "90 or older"). As a second
line of defence every identifying string of the Patient (names, address parts, telecom,
identifiers, id, birth date, mother's maiden name, birth place) is scrubbed from the finished prompt,
and the number of replacements is recorded. Dates can be shifted by a random number of days; the
model's answer is shifted back before anyone reads it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

Json = dict[str, Any]
REDACTED = "[redacted]"
_DAY = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_IDENTIFYING_EXTENSIONS = ("patient-mothersMaidenName", "patient-birthPlace")


def _name_terms(name: Any) -> list[str]:
    if not isinstance(name, dict):
        return []
    parts = [name.get("family"), name.get("text"), *(name.get("given") or [])]
    return [p for p in parts if isinstance(p, str)]


def _address_terms(address: Any) -> list[str]:
    if not isinstance(address, dict):
        return []
    parts = [*(address.get("line") or []), address.get("city"), address.get("district"),
             address.get("postalCode"), address.get("text")]
    return [p for p in parts if isinstance(p, str)]


def _value_terms(items: Any) -> list[str]:
    return [i["value"] for i in items or [] if isinstance(i, dict) and isinstance(i.get("value"), str)]


def _extension_terms(extensions: Any) -> list[str]:
    out: list[str] = []
    for ext in extensions or []:
        if not isinstance(ext, dict):
            continue
        url = str(ext.get("url", ""))
        if url.endswith(_IDENTIFYING_EXTENSIONS) and isinstance(ext.get("valueString"), str):
            out.append(ext["valueString"])
        out += _name_terms(ext.get("valueHumanName")) + _address_terms(ext.get("valueAddress"))
        out += _value_terms([ext.get("valueContactPoint"), ext.get("valueIdentifier")])
        out += _extension_terms(ext.get("extension"))
    return out


def identifying_terms(patient: Json) -> list[str]:
    """Every string of the Patient resource that identifies the person."""
    terms: list[str] = [str(patient.get("id", "")), str(patient.get("birthDate", ""))]
    for name in patient.get("name") or []:
        terms += _name_terms(name)
    for address in patient.get("address") or []:
        terms += _address_terms(address)
    terms += _value_terms(patient.get("telecom")) + _value_terms(patient.get("identifier"))
    for contact in patient.get("contact") or []:
        if isinstance(contact, dict):
            terms += _name_terms(contact.get("name")) + _address_terms(contact.get("address"))
            terms += _value_terms(contact.get("telecom"))
    terms += _extension_terms(patient.get("extension"))
    words = [w for t in terms for w in t.split() if len(w) >= 3]
    letters = [re.sub(r"[^A-Za-z]", "", w) for w in words]
    unique = {t.strip() for t in [*terms, *words, *letters] if len(t.strip()) >= 3}
    return sorted(unique, key=len, reverse=True)


def scrub(text: str, terms: list[str]) -> tuple[str, int]:
    """The text with every whole-word occurrence of the terms replaced; and how many were replaced."""
    if not terms:
        return text, 0
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(t)}(?!\w)" for t in terms), re.IGNORECASE)
    return pattern.subn(REDACTED, text)


def age(birth_date: Any, today: date) -> str:
    """The age in whole years, "90 or older" from 90 on (Safe Harbor), "unknown" without a birth date."""
    if not isinstance(birth_date, str) or len(birth_date) < 4 or not birth_date[:4].isdigit():
        return "unknown"
    year = int(birth_date[:4])
    month = int(birth_date[5:7]) if len(birth_date) >= 7 else 1
    day = int(birth_date[8:10]) if len(birth_date) >= 10 else 1
    years = today.year - year - ((today.month, today.day) < (month, day))
    if years >= 90:
        return "90 or older"
    return "under 1 year" if years < 1 else f"{years} years"


@dataclass(frozen=True, slots=True)
class DateShift:
    """Moves every date by ``days``; ``restore`` moves the dates of a text back."""

    days: int = 0

    @classmethod
    def random(cls) -> DateShift:
        magnitude = 30 + secrets.randbelow(336)  # 30..365 days, earlier or later
        return cls(magnitude if secrets.randbelow(2) else -magnitude)

    def apply(self, value: Any) -> str | None:
        """A FHIR date/dateTime as YYYY-MM-DD (shifted); None when it is not one."""
        if not isinstance(value, str) or len(value) < 4:
            return None
        try:
            day = date.fromisoformat(value[:10]) if len(value) >= 10 else None
        except ValueError:
            return None
        if day is None:
            return value[:7] if self.days == 0 else None  # a year or month cannot be shifted by days
        return (day + timedelta(days=self.days)).isoformat()

    def restore(self, text: str) -> str:
        if self.days == 0:
            return text

        def back(m: re.Match[str]) -> str:
            try:
                day = date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return m[0]
            return (day - timedelta(days=self.days)).isoformat()

        return _DAY.sub(back, text)
