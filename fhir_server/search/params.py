"""Parsing a search query (http://hl7.org/fhir/R4/search.html#general) into filters and result parameters.

``name[:modifier]=v1,v2`` is one filter with OR-ed values; a repeated name is another filter
(AND). Values keep their backslash escapes (search.html#escaping) until the parameter type splits
them on ``|`` or ``$``. Chains (``subject:Patient.name``) and ``_has`` keep their raw name for the
compiler. Result parameters (``_sort``, ``_count``, ``_include``…) are collected apart; formatting
parameters (``_format``, ``_pretty``) are not search parameters at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_server.errors import BadRequest
from fhir_server.fhir import summary
from fhir_server.search.normalize import split_escaped

RESULT_PARAMS = frozenset(
    {"_sort", "_count", "_include", "_revinclude", "_summary", "_elements", "_total", "_contained",
     "_containedType", "_cursor", "_offset"}
)
UNSUPPORTED_RESULT = frozenset({"_contained", "_containedType", "_offset"})
FORMAT_PARAMS = frozenset({"_format", "_pretty"})
MAX_VALUES = 1000  # OR-ed values over the whole query
MAX_FILTERS = 100  # AND-ed parameters


@dataclass(slots=True)
class Filter:
    """One ``name[:modifier]=values`` of the query."""

    raw_name: str  # as written, e.g. "subject:Patient.name" or "code:text"
    code: str  # "subject"
    modifier: str | None  # "Patient", "text", "missing", ...
    chain: str | None  # "name" in subject:Patient.name (the rest after the first '.')
    values: list[str]  # still escaped

    def link_value(self) -> str:
        return ",".join(self.values)


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


def split_values(raw: str) -> list[str]:
    """Comma-separated values (``\\,`` is a literal comma, kept escaped)."""
    return split_escaped(raw, ",")


def parse_filter(name: str, value: str) -> Filter:
    if name.startswith("_has:"):
        return Filter(name, "_has", None, None, [value])
    head, dot, chain = name.partition(".")
    code, colon, modifier = head.partition(":")
    if not code or (colon and not modifier) or (dot and not chain):
        raise BadRequest(f"'{name}' is not a search parameter name")
    return Filter(name, code, modifier if colon else None, chain if dot else None, split_values(value))


def _count(value: str, maximum: int) -> int:
    if not value.isascii() or not value.isdigit():
        raise BadRequest(f"_count must be a non-negative integer, not '{value}'")
    return maximum if len(value) > 12 else min(int(value), maximum)


def parse(params: list[tuple[str, str]], max_count: int) -> SearchRequest:
    req = SearchRequest()
    n_values = 0
    for name, value in params:
        if "\x00" in name or "\x00" in value:
            raise BadRequest("Search parameters cannot contain NUL characters")
        if name in FORMAT_PARAMS:
            continue
        base = name.split(":", 1)[0]
        if base in RESULT_PARAMS:
            if base in UNSUPPORTED_RESULT:
                req.ignored.append((name, f"{base} is not supported by this server"))
                continue
            _result(req, name, value, max_count)
            continue
        f = parse_filter(name, value)
        n_values += len(f.values)
        req.filters.append(f)
    if n_values > MAX_VALUES or len(req.filters) > MAX_FILTERS:
        raise BadRequest(f"The search has too many parameters or values (at most {MAX_FILTERS} parameters "
                         f"and {MAX_VALUES} values)")
    return req


def _result(req: SearchRequest, name: str, value: str, max_count: int) -> None:
    base, _, modifier = name.partition(":")
    if modifier and base not in ("_include", "_revinclude"):
        raise BadRequest(f"{base} takes no modifier (:{modifier})")
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
        req.summary = summary.check_summary(value)
    elif base == "_elements":
        req.elements = summary.parse_elements(value)
    elif base == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise BadRequest(f"_total must be none, estimate or accurate, not '{value}'")
        req.total = value
    elif base == "_cursor":
        req.cursor = value
