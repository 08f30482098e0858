"""What every request can reach (DESIGN.md "Components"): settings, the pool, the validator, the indexer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from fhir_server import access
from fhir_server.config import Settings
from fhir_server.interactions import capabilities
from fhir_server.interactions.common import Validator
from fhir_server.search import conditional
from fhir_server.search.engine import SearchEngine
from fhir_server.search.indexer import SearchIndexer
from fhir_server.search.registry import Registry, load_registry
from fhir_server.storage.repository import Conn

log = logging.getLogger(__name__)
DEFINITION_TYPES = frozenset({"SearchParameter", "StructureDefinition", "ValueSet", "CodeSystem", "ConceptMap"})
CONDITIONAL_SCAN = 1000  # matches looked at for a restricted caller's conditional interaction


@dataclass(slots=True)
class Server:
    settings: Settings
    pool: AsyncConnectionPool
    registry: Registry
    indexer: SearchIndexer
    engine: SearchEngine
    validate: Validator
    commit_hooks: list[Callable[[set[str]], None]] = field(default_factory=list)  # run after each commit
    consumers: dict[str, Any] = field(default_factory=dict)  # outbox consumers (events.dispatcher.Consumer)
    read_pool: AsyncConnectionPool | None = None  # DATABASE_READ_URL: a replica for reads that may lag

    @property
    def reader(self) -> AsyncConnectionPool:
        """The pool for reads and searches that may lag behind the latest commit (a replica, if set)."""
        return self.read_pool if self.read_pool is not None else self.pool

    def __post_init__(self) -> None:
        from conformance.server import attach  # the profile registry and enforced profiles (conformance/)

        attach(self)

    async def find_ids(self, conn: Conn, res_type: str, query: str, limit: int = 2) -> list[str]:
        """Resources matching a conditional interaction's search (unknown parameters → 400).

        A caller with restricted access matches only among the resources it may search: others are
        neither changed nor counted (no 412 because of a resource it cannot see).
        """
        if not access.current().restricted:
            return await conditional.find_ids(conn, self.registry, res_type, query, limit)
        ids = await conditional.find_ids(conn, self.registry, res_type, query, CONDITIONAL_SCAN)
        seen = await access.visible_ids(conn, "search-type", [(res_type, i) for i in ids])
        return [i for i in ids if (res_type, i) in seen][:limit]

    def after_commit(self, touched: set[str], *, remote: bool = False) -> None:
        """Bring in-memory state up to date with what a committed transaction wrote.

        Definitions (search parameters, profiles, terminology) are cached in every process: when this
        process wrote some, the others are told (``NOTIFY fhir_definitions``) and run this too
        (``remote=True``).
        """
        if "SearchParameter" in touched:
            self.reload_registry()
        for hook in self.commit_hooks:
            hook(touched)
        changed = touched & DEFINITION_TYPES
        if changed and not remote:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing else to tell
                asyncio.get_running_loop().create_task(self._announce(changed))

    async def _announce(self, types: set[str]) -> None:
        payload = orjson.dumps({"pid": os.getpid(), "types": sorted(types)}).decode()
        try:
            async with self.pool.connection() as conn:
                await conn.execute("SELECT pg_notify('fhir_definitions', %s)", (payload,))
        except Exception:  # the others catch up at their next restart; nothing to undo here
            log.warning("could not announce changed definitions %s", sorted(types))

    def on_notice(self, payload: str) -> None:
        """A ``fhir_definitions`` notification from another process."""
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if data.get("pid") != os.getpid() and isinstance(data.get("types"), list):
            self.after_commit({str(t) for t in data["types"]}, remote=True)

    def reload_registry(self) -> None:
        assert self.settings.database_url
        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            self.use_registry(load_registry(conn))

    def use_registry(self, registry: Registry) -> None:
        """Switch to a new set of search parameters (after a SearchParameter was written)."""
        self.registry = registry
        self.indexer.registry = registry
        self.indexer.reset()
        self.engine.registry = registry
        capabilities.refresh()
