"""Parsing a search query (http://hl7.org/fhir/R4/search.html#general) into filters and result parameters.

``name[:modifier]=v1,v2`` is one filter with OR-ed values; a repeated name is another filter
(AND). Chains (``subject:Patient.name``) and ``_has`` keep their raw name for the compiler. Result
parameters (``_sort``, ``_count``, ``_include``…) are collected apart. Formatting parameters
(``_format``, ``_pretty``) are not search parameters at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fhir_server.errors import BadRequest

RESULT_PARAMS = frozenset(
    {"_sort", "_count", "_include", "_revinclude", "_summary", "_elements", "_total", "_contained",
     "_containedType", "_cursor", "_offset"}
)
UNSUPPORTED_RESULT = frozenset({"_contained", "_containedType", "_offset"})
FORMAT_PARAMS = frozenset({"_format", "_pretty"})
_SPLIT = re.compile(r"(?<!\\),")


@dataclass(slots=True)
class Filter:
    """One ``name[:modifier]=values`` of the query."""

    raw_name: str  # as written, e.g. "subject:Patient.name" or "code:text"
    code: str  # "subject"
    modifier: str | None  # "Patient", "text", "missing", ...
    chain: str | None  # "name" in subject:Patient.name (the rest after the first '.')
    values: list[str]

    def label(self) -> str:
        return self.raw_name


@dataclass(slots=True)
class SearchRequest:
    filters: list[Filter] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (code, descending)
    count: int | None = None
    includes: list[tuple[str, bool]] = field(default_factory=list)  # (Type:param[:target], iterate)
    revincludes: list[tuple[str, bool]] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] | None = None
    total: str | None = None
    cursor: str | None = None
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (parameter, why it was not applied)
    result_raw: list[tuple[str, str]] = field(default_factory=list)  # for the self link


def split_values(raw: str) -> list[str]:
    """Comma-separated values (``\\,`` is a literal comma)."""
    return [v.replace("\\,", ",") for v in _SPLIT.split(raw)]


def parse_filter(name: str, value: str) -> Filter:
    if name.startswith("_has:"):
        return Filter(name, "_has", None, None, [value])
    head, dot, chain = name.partition(".")
    code, colon, modifier = head.partition(":")
    if not code:
        raise BadRequest(f"'{name}' is not a search parameter name")
    return Filter(name, code, modifier if colon else None, chain if dot else None, split_values(value))


def _count(value: str, maximum: int) -> int:
    if not value.isdigit():
        raise BadRequest(f"_count must be a non-negative integer, not '{value}'")
    return min(int(value), maximum)


def parse(params: list[tuple[str, str]], max_count: int) -> SearchRequest:
    req = SearchRequest()
    for name, value in params:
        if name in FORMAT_PARAMS:
            continue
        if name.split(":", 1)[0] in RESULT_PARAMS:
            if name.split(":", 1)[0] in UNSUPPORTED_RESULT:
                req.ignored.append((name, f"{name} is not supported by this server"))
                continue
            _result(req, name, value, max_count)
            if name != "_cursor":
                req.result_raw.append((name, value))
            continue
        req.filters.append(parse_filter(name, value))
    return req


def _result(req: SearchRequest, name: str, value: str, max_count: int) -> None:
    base, _, modifier = name.partition(":")
    if base == "_count":
        req.count = _count(value, max_count)
    elif base == "_sort":
        for key in value.split(","):
            key = key.strip()
            if not key or key == "-":
                raise BadRequest("_sort has an empty sort key")
            req.sort.append((key[1:], True) if key.startswith("-") else (key, False))
    elif base in ("_include", "_revinclude"):
        if modifier not in ("", "iterate", "recurse"):
            raise BadRequest(f"{name}: the only modifier is :iterate")
        target = req.includes if base == "_include" else req.revincludes
        target.append((value, modifier in ("iterate", "recurse")))
    elif base == "_summary":
        req.summary = value
    elif base == "_elements":
        req.elements = [v.strip() for v in value.split(",") if v.strip()]
    elif base == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise BadRequest(f"_total must be none, estimate or accurate, not '{value}'")
        req.total = value
    elif base == "_cursor":
        req.cursor = value
