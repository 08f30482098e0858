"""SMART scopes (hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html): what the AI operations may touch.

The AI operations never read or write on their own authority: every search they run carries the
caller's restriction, and every write first asks whether the caller may make it. The caller's
access arrives as ``OperationContext.access``. ``AccessPolicy`` is the narrow question set the AI
operations ask:

- ``can_read(type)``: the caller may search the type (e.g. holds ``patient/Observation.rs``);
- ``read_conditions(type)``: row conditions added to every search of that type (e.g. "in the
  compartment of the launch patient"); ``[]`` means no restriction beyond the type;
- ``can_write(type)``: the caller may create resources of the type (``.c``).

``policy()`` answers them from whatever the server hands over: None (authorization off) → open;
the server's interaction-level access (``fhir_server.access.Access``: ``require(interaction,
type)``, ``condition(interaction, type)``) → adapted; an object that offers neither is refused
(403) rather than guessed at: a half-wired access object must not open the record.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from fhir_server.errors import Forbidden
from fhir_server.search.sql import Cond


@runtime_checkable
class AccessPolicy(Protocol):
    def can_read(self, res_type: str) -> bool: ...

    def read_conditions(self, res_type: str) -> list[Cond]: ...

    def can_write(self, res_type: str) -> bool: ...


class OpenAccess:
    """Authorization is off: everything may be read and written."""

    def can_read(self, res_type: str) -> bool:
        return True

    def read_conditions(self, res_type: str) -> list[Cond]:
        return []

    def can_write(self, res_type: str) -> bool:
        return True


OPEN = OpenAccess()


class InteractionAccess:
    """The server's per-interaction access (``require``/``condition``) seen as an ``AccessPolicy``."""

    def __init__(self, access: Any) -> None:
        self.access = access

    def _allowed(self, interaction: str, res_type: str) -> bool:
        try:
            self.access.require(interaction, res_type)
        except Forbidden:
            return False
        return True

    def can_read(self, res_type: str) -> bool:
        return self._allowed("search-type", res_type)

    def read_conditions(self, res_type: str) -> list[Cond]:
        cond = self.access.condition("search-type", res_type)
        return [cond] if isinstance(cond, Cond) else []

    def can_write(self, res_type: str) -> bool:
        return self._allowed("create", res_type)


def policy(access: Any) -> AccessPolicy:
    """The caller's policy: open when authorization is off, else what the access object answers."""
    if access is None:
        return OPEN
    if isinstance(access, AccessPolicy):
        return access
    if callable(getattr(access, "require", None)) and callable(getattr(access, "condition", None)):
        return InteractionAccess(access)
    raise Forbidden("The caller's access cannot be checked by the AI operations; access denied")


def require_write(access: AccessPolicy, *types: str) -> None:
    refused = [t for t in types if not access.can_write(t)]
    if refused:
        raise Forbidden(f"The caller may not create {', '.join(refused)} resources")
