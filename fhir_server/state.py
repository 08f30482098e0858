"""What every request can reach (DESIGN.md "Components"): settings, the pool, the validator, the indexer."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from fhir_server.config import Settings
from fhir_server.interactions.common import Validator
from fhir_server.storage.writes import Indexer


@dataclass(slots=True)
class Server:
    settings: Settings
    pool: AsyncConnectionPool
    indexer: Indexer
    validate: Validator
