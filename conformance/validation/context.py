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


@dataclass(frozen=True, slots=True)
class Options:
    unknown_extensions: str = "warning"  # error | warning | ignore: an extension no registry knows
    allow_examples: bool = True  # URLs on example.org / example.com / acme.com are fine
    validate_contained: bool = True
    markdown_no_html: bool = False  # markdown that embeds HTML tags is an error
    allowed_extension_domains: tuple[str, ...] = ()
    bundle_references: bool = True  # document/message Bundles must resolve their references inside


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
        return Ctx(self.registry, self.options, [], list(self.resources), list(self.roots), list(self.bundles),
                   self.depth)

    def resolver(self, reference: str) -> Json | None:
        """A resource of the Bundles being walked, by ``fullUrl`` or ``Type/id``."""
        for bundle in reversed(self.bundles):
            for entry in bundle.get("entry") or ():
                if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                    continue
                res = entry["resource"]
                if entry.get("fullUrl") == reference or reference == f"{res.get('resourceType')}/{res.get('id')}":
                    return res  # type: ignore[no-any-return]
        return None


def is_example_url(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].lower()
    return any(host == h or host.endswith("." + h) for h in EXAMPLE_HOSTS)
