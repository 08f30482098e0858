"""Server settings (http://hl7.org/fhir/R4/http.html#general): read once from the environment and the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

DEFAULT_PORT = 8080


def default_data_dir() -> Path:
    """Where the embedded PostgreSQL keeps its files unless ``--data-dir``/``FHIR_DATA_DIR`` says otherwise."""
    env = os.environ.get("FHIR_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("fhir-server"))


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(slots=True)
class Settings:
    """Everything the server needs to start; ``Settings.from_env()`` is the usual way to build one."""

    database_url: str | None = None  # DATABASE_URL: an external PostgreSQL ≥ 15; None → embedded
    data_dir: Path = field(default_factory=default_data_dir)
    base_url: str | None = None  # FHIR_BASE_URL: public base URL; None → taken from each request
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = 64 * 1024 * 1024  # FHIR_MAX_BODY_BYTES
    max_json_depth: int = 100  # FHIR_MAX_JSON_DEPTH
    default_page_size: int = 20
    max_page_size: int = 1000
    pool_min: int = 2
    pool_max: int = 16

    @classmethod
    def from_env(cls) -> Settings:
        base = os.environ.get("FHIR_BASE_URL")
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            base_url=base.rstrip("/") if base else None,
            max_body_bytes=_int_env("FHIR_MAX_BODY_BYTES", 64 * 1024 * 1024),
            max_json_depth=_int_env("FHIR_MAX_JSON_DEPTH", 100),
            pool_max=_int_env("FHIR_DB_POOL_MAX", 16),
        )
