"""SMART App Launch 2.x scopes-and-launch-context: v1 and v2 clinical scopes, launch and identity scopes.

Clinical scopes are ``<context>/<type>.<permissions>[?<constraint>]``: context ``patient``, ``user``
or ``system``; a resource type or ``*``; v1 permissions ``read``/``write``/``*`` or v2 letters
``c r u d s`` (in that order); an optional v2 query constraint (``?category=laboratory``). They are
parsed once into ``ResourceScope`` and compared structurally: a client's registered scopes cap what
it may be granted (``Scopes.intersect``); a refresh may narrow a grant but never widen it
(``Scopes.within``). Letters: c create, r read/vread/instance history, u update/patch, d delete,
s search and type/system history.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urlencode

from fhir_server import definitions

CONTEXTS = ("patient", "user", "system")
LETTERS = "cruds"
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
IDENTITY = ("openid", "fhirUser", "profile")
LAUNCH = ("launch", "launch/patient", "launch/encounter")
REFRESH = ("offline_access", "online_access")
KNOWN = frozenset(IDENTITY + LAUNCH + REFRESH)
INTERACTION_LETTER = {
    "read": "r", "vread": "r", "history-instance": "r",
    "search-type": "s", "search-system": "s", "history-type": "s", "history-system": "s",
    "create": "c", "update": "u", "patch": "u", "delete": "d",
}
_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token
_CLINICAL = re.compile(r"(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?")


class ScopeError(ValueError):
    """A scope that looks like a SMART clinical scope but is malformed."""


@dataclass(frozen=True, slots=True)
class ResourceScope:
    context: str  # patient | user | system
    res_type: str  # a resource type or "*"
    perms: frozenset[str]  # letters of "cruds"
    query: tuple[tuple[str, str], ...] = ()
    text: str = ""

    def grants(self, letter: str, res_type: str | None) -> bool:
        """Whether this scope allows the permission ``letter`` on ``res_type`` (None: on some type)."""
        return letter in self.perms and (res_type is None or self.res_type in ("*", res_type))

    def covers(self, other: ResourceScope) -> bool:
        """Everything ``other`` allows, this allows too."""
        return (self.context == other.context and self.res_type in ("*", other.res_type)
                and other.perms <= self.perms and (not self.query or self.query == other.query))

    def intersect(self, other: ResourceScope) -> ResourceScope | None:
        """What both allow, as one scope (None when that is nothing or not expressible as one scope)."""
        if self.context != other.context:
            return None
        if "*" not in (self.res_type, other.res_type) and self.res_type != other.res_type:
            return None
        if self.query and other.query and self.query != other.query:
            return None
        perms = self.perms & other.perms
        if not perms:
            return None
        res_type = other.res_type if self.res_type == "*" else self.res_type
        query = self.query or other.query
        if (res_type, perms, query) == (self.res_type, self.perms, self.query):
            return self
        return make(self.context, res_type, perms, query)


def make(context: str, res_type: str, perms: frozenset[str], query: tuple[tuple[str, str], ...] = ()) -> ResourceScope:
    letters = "".join(c for c in LETTERS if c in perms)
    text = f"{context}/{res_type}.{letters}" + (f"?{urlencode(query)}" if query else "")
    return ResourceScope(context, res_type, perms, query, text)


def parse_clinical(text: str) -> ResourceScope:
    m = _CLINICAL.fullmatch(text)
    if m is None:
        raise ScopeError(f"'{text}' is not a SMART scope (<patient|user|system>/<type>.<permissions>)")
    context, res_type, perms_text, query_text = m.groups()
    if res_type != "*" and res_type not in definitions.resource_types():
        raise ScopeError(f"'{text}': {res_type} is not an R4 resource type")
    if perms_text in V1:
        if query_text:
            raise ScopeError(f"'{text}': SMART v1 scopes (.read/.write/.*) take no query constraint")
        return ResourceScope(context, res_type, frozenset(V1[perms_text]), (), text)
    if not perms_text or any(c not in LETTERS for c in perms_text) or \
            "".join(c for c in LETTERS if c in perms_text) != perms_text:
        raise ScopeError(f"'{text}': permissions must be read, write, * or letters of 'cruds' in that order")
    return ResourceScope(context, res_type, frozenset(perms_text), _constraint(text, query_text), text)


def _constraint(text: str, query_text: str | None) -> tuple[tuple[str, str], ...]:
    if not query_text:
        return ()
    try:
        pairs = parse_qsl(query_text[1:], keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise ScopeError(f"'{text}': the constraint is not a query string") from exc
    if any(not k or not v for k, v in pairs):
        raise ScopeError(f"'{text}': every constraint parameter needs a name and a value")
    return tuple(pairs)


@dataclass(frozen=True, slots=True)
class Scopes:
    """A parsed scope string: clinical scopes and the other (launch, identity, refresh) scopes."""

    resources: tuple[ResourceScope, ...] = ()
    other: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> Scopes:
        """Parse a space-separated scope string; malformed SMART scopes raise ``ScopeError``, unknown
        other scopes are left out (the granted ``scope`` tells the client what it got)."""
        resources: list[ResourceScope] = []
        other: list[str] = []
        for token in (text or "").split(" "):
            if not token:
                continue
            if not _TOKEN.fullmatch(token):
                raise ScopeError(f"'{token}' contains characters a scope may not have")
            if token.split("/", 1)[0] in CONTEXTS and "/" in token:
                scope = parse_clinical(token)
                if scope not in resources:
                    resources.append(scope)
            elif token in KNOWN and token not in other:
                other.append(token)
        return cls(tuple(resources), tuple(other))

    @property
    def text(self) -> str:
        return " ".join([*self.other, *(s.text for s in self.resources)])

    def __contains__(self, name: str) -> bool:
        return name in self.other

    def __bool__(self) -> bool:
        return bool(self.resources or self.other)

    def intersect(self, allowed: Scopes) -> Scopes:
        """What of this (requested) set ``allowed`` permits: each requested scope, narrowed to fit."""
        out: list[ResourceScope] = []
        for want in self.resources:
            fits = [s for s in (want.intersect(a) for a in allowed.resources) if s is not None]
            best = [s for s in fits if not any(o is not s and o.covers(s) and o != s for o in fits)]
            out.extend(s for s in best if s not in out)
        return Scopes(tuple(out), tuple(o for o in self.other if o in allowed.other))

    def within(self, granted: Scopes) -> bool:
        """Every scope of this set is covered by ``granted`` (a refresh may only narrow)."""
        return all(o in granted.other for o in self.other) and all(
            any(g.covers(s) for g in granted.resources) for s in self.resources)

    def only(self, keep: Callable[[ResourceScope], bool], other: tuple[str, ...] | None = None) -> Scopes:
        """The clinical scopes for which ``keep`` holds (and, if given, only these other scopes)."""
        names = self.other if other is None else tuple(o for o in self.other if o in other)
        return Scopes(tuple(s for s in self.resources if keep(s)), names)

    def without(self, *names: str) -> Scopes:
        return Scopes(self.resources, tuple(o for o in self.other if o not in names))

    def with_context(self, context: str) -> Scopes:
        return replace(self, resources=tuple(s for s in self.resources if s.context == context))
