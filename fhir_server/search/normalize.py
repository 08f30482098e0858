"""Value normalisation shared by indexing and querying (http://hl7.org/fhir/R4/search.html#string).

Strings fold case and accents ("Renée" → "renee"); quantities reduce to UCUM base units so that
5400 ug and 5.4 mg compare equal; references split into type, id and URL.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from fhir_server.fhirpath.ucum import to_base

UCUM = "http://unitsofmeasure.org"
_REF = re.compile(r"(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/(?P<vid>[^/]+))?")


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a string."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def split_escaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not escaped by a backslash (search.html#escaping); escapes are kept."""
    parts, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    """A search value with its ``\\,`` ``\\$`` ``\\|`` ``\\\\`` escapes resolved."""
    if "\\" not in text:
        return text
    return re.sub(r"\\([\\,$|])", r"\1", text)


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


def canonical(value: Decimal, system: str | None, code: str | None) -> tuple[str, Decimal] | None:
    """(canonical unit, value in it) for a UCUM quantity whose unit is understood."""
    if system != UCUM or not code:
        return None
    base = to_base(value, code)
    if base is None:
        return None
    amount, dims = base
    unit = ".".join(f"{name}{exp}" if exp != 1 else name for name, exp in dims) or "1"
    return unit, amount


def parse_reference(ref: str, base: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    """(type, id, url, version) of a reference string.

    ``Patient/1`` → type and id; ``http://x/fhir/Patient/1`` → url, plus type and id when the URL is
    on this server's ``base``; ``http://x/ValueSet/v|2`` (canonical) → url and version.
    """
    if ref.startswith("#"):
        return None, None, None, None
    m = _REF.fullmatch(ref)
    if m:
        return m.group("type"), m.group("id"), None, None
    url, _, version = ref.partition("|")
    if base and url.startswith(base + "/"):
        local = _REF.fullmatch(url[len(base) + 1 :])
        if local:
            return local.group("type"), local.group("id"), url, None
    return None, None, url, version or None
