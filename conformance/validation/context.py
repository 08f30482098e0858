"""Validation settings and the state of one validation (http://hl7.org/fhir/R4/validation.html).

:class:`Options` are the choices a caller makes (what an unknown extension is, whether example URLs
or contained resources are checked, ...); their defaults are the server's. :class:`Ctx` carries the
registry, the options, the issues found and the resources being walked (for ``%resource`` and for
resolving references inside a Bundle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.validation.registry import Registry
from fhir_server.validation.issues import Issue, Loc, render

Json = dict[str, Any]
EXAMPLE_HOSTS = ("example.org", "example.com", "acme.com", "acme.org")
EXAMPLE_EXTENSION_HOSTS = ("example.org", "acme.com")  # the reference validator's tolerated extension hosts


@dataclass(frozen=True, slots=True)
class Options:
    unknown_extensions: str = "warning"  # error | warning | ignore: an extension no registry knows
    allow_examples: bool = True  # URLs on example.org / example.com / acme.com are fine
    validate_contained: bool = True
    markdown_no_html: bool = False  # markdown that embeds HTML tags is an error
    allowed_extension_domains: tuple[str, ...] = ()
    bundle_references: bool = True  # document/message Bundles must resolve their references inside
    resolve_references: bool = False  # every relative reference in a Bundle/Parameters must resolve in it
    base_rules: bool = True  # walk the base definitions too (invariants...); off: only the profiles' own rules


@dataclass(slots=True)
class Ctx:
    registry: Registry
    options: Options
    issues: list[Issue] = field(default_factory=list)
    resources: list[Json] = field(default_factory=list)  # the resources being walked, innermost last
    roots: list[Json] = field(default_factory=list)  # %rootResource of each: the container of a contained one
    bundles: list[Json] = field(default_factory=list)  # the Bundles being walked, innermost last
    depth: int = 0

    def add(self, severity: str, code: str, message: str, loc: Loc | None) -> None:
        self.issues.append(Issue(severity, code, message, render(loc)))

    def error(self, code: str, message: str, loc: Loc | None) -> None:
        self.add("error", code, message, loc)

    def warning(self, code: str, message: str, loc: Loc | None) -> None:
        self.add("warning", code, message, loc)

    def quiet(self) -> Ctx:
        """A context that shares everything but collects its issues apart (slice matching)."""
        return Ctx(
            self.registry, self.options, [], list(self.resources), list(self.roots), list(self.bundles), self.depth
        )

    def resolver(self, reference: str) -> Json | None:
        """A resource of the Bundles (or Parameters) being walked, by ``fullUrl`` or ``Type/id``."""
        for container in reversed(self.bundles):
            for full_url, res in _members(container):
                if full_url == reference or reference == f"{res.get('resourceType')}/{res.get('id')}":
                    return res
                if full_url and full_url.endswith("/" + reference) and "/" in reference:
                    return res
        return None


def _members(container: Json) -> list[tuple[str | None, Json]]:
    """(fullUrl, resource) of a Bundle's entries, or of a Parameters' resources (parts included)."""
    if container.get("resourceType") == "Bundle":
        return [
            (e.get("fullUrl"), e["resource"])
            for e in seq(container.get("entry"))
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    out: list[tuple[str | None, Json]] = []
    stack = list(seq(container.get("parameter")))
    while stack:
        p = stack.pop()
        if isinstance(p, dict):
            if isinstance(p.get("resource"), dict):
                out.append((None, p["resource"]))
            stack.extend(seq(p.get("part")))
    return out


def seq(value: Any) -> list[Any]:
    """A JSON array as a list; anything else (a client's wrong JSON type) as an empty one."""
    return value if isinstance(value, list) else []


def is_example_url(url: str, hosts: tuple[str, ...] = EXAMPLE_HOSTS) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].lower()
    return any(host == h or host.endswith("." + h) for h in hosts)
