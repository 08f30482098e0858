"""Server settings (http://hl7.org/fhir/R4/http.html#general): read once from the environment and the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from fhir_server.storage.crypto import Keys

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


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(slots=True)
class Settings:
    """Everything the server needs to start; ``Settings.from_env()`` is the usual way to build one."""

    database_url: str | None = None  # DATABASE_URL: an external PostgreSQL ≥ 15; None → embedded
    database_read_url: str | None = None  # DATABASE_READ_URL: a streaming replica for reads that may lag
    data_dir: Path = field(default_factory=default_data_dir)
    base_url: str | None = None  # FHIR_BASE_URL: public base URL; None → taken from each request
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = 64 * 1024 * 1024  # FHIR_MAX_BODY_BYTES
    default_page_size: int = 20
    max_page_size: int = 1000
    pool_min: int = 2
    pool_max: int = 16
    auth_enabled: bool = True  # SMART on FHIR authorization; off only by FHIR_AUTH_DISABLED=1 or serve --no-auth
    auth_admin_token: str | None = None  # FHIR_AUTH_ADMIN_TOKEN: dynamic client registration, EHR launch endpoint
    access_log: bool = False  # FHIR_ACCESS_LOG=1 or serve --access-log: one log line per request
    log_format: str = "json"  # FHIR_LOG_FORMAT or serve --log-format: json | text
    otel_endpoint: str | None = None  # OTEL_EXPORTER_OTLP_ENDPOINT: send OpenTelemetry traces there (OTLP/HTTP)
    metrics_token: str | None = None  # FHIR_METRICS_TOKEN: /metrics needs "Authorization: Bearer" it; None → public
    # AI operations ($summarize, $triage): no key → the offline (template) summarizer and rule-only triage
    openai_api_key: str | None = None  # OPENAI_API_KEY
    openai_base_url: str | None = None  # OPENAI_BASE_URL: any OpenAI-compatible endpoint; None → api.openai.com
    openai_model: str = "gpt-4o-mini"  # OPENAI_MODEL
    openai_temperature: float = 0.2  # OPENAI_TEMPERATURE
    openai_max_tokens: int = 1200  # OPENAI_MAX_TOKENS (sent as max_completion_tokens)
    openai_timeout: float = 60.0  # OPENAI_TIMEOUT, seconds per attempt
    openai_max_retries: int = 2  # OPENAI_MAX_RETRIES (the client's own retries on 429/5xx/connection errors)
    delivery_max_backoff: float = 300.0  # FHIR_DELIVERY_MAX_BACKOFF: longest wait between notification retries (s)
    delivery_workers: int = 2  # concurrent notification deliveries per process
    audit: str = "all"  # FHIR_AUDIT: all | writes (no facts for successful reads and searches) | off
    audit_retention_days: int = 0  # FHIR_AUDIT_RETENTION_DAYS: AuditEvents older than this are removed (0: kept)
    audit_purge_seconds: float = 3600.0  # FHIR_AUDIT_PURGE_SECONDS: how often the retention purge runs
    audit_sync_commit: bool = True  # FHIR_AUDIT_SYNC_COMMIT=0: request-time facts do not wait for the WAL flush
    ssl_certfile: str | None = None  # serve --ssl-certfile: TLS certificate chain (PEM); None → plain HTTP
    ssl_keyfile: str | None = None  # serve --ssl-keyfile: its private key (PEM)
    # Scheduling and geography: ZocDoc partner API and Google Maps Platform (unset → that integration is off)
    zocdoc_base_url: str | None = None  # ZOCDOC_BASE_URL, e.g. https://api-developer-sandbox.zocdoc.com
    zocdoc_token_url: str | None = None  # ZOCDOC_TOKEN_URL (OAuth 2 client credentials)
    zocdoc_client_id: str | None = None  # ZOCDOC_CLIENT_ID
    zocdoc_client_secret: str | None = None  # ZOCDOC_CLIENT_SECRET
    zocdoc_webhook_key: str | None = None  # ZOCDOC_WEBHOOK_KEY: the base64 key shared with ZocDoc for webhooks
    zocdoc_slot_minutes: int = 30  # ZOCDOC_SLOT_MINUTES: length of a ZocDoc timeslot (ZocDoc sends start times)
    google_maps_api_key: str | None = None  # GOOGLE_MAPS_API_KEY
    google_maps_base_url: str = "https://maps.googleapis.com"  # GOOGLE_MAPS_BASE_URL (Geocoding, legacy Places)
    google_places_base_url: str = "https://places.googleapis.com"  # GOOGLE_PLACES_BASE_URL (Places API New)
    external_timeout: float = 10.0  # FHIR_EXTERNAL_TIMEOUT: seconds per call to ZocDoc / Google
    hold_minutes: int = 10  # FHIR_HOLD_MINUTES: how long $hold keeps slots when the caller names no expiry
    # Bulk Data ($export, $import): jobs live in PostgreSQL; every server process runs some
    bulk_jobs: int = 2  # FHIR_BULK_JOBS: jobs this process runs at once (0: none, it only answers requests)
    bulk_workers: int = 2  # FHIR_BULK_WORKERS: $import worker processes (validation and indexing in parallel)
    bulk_lease: float = 30.0  # FHIR_BULK_LEASE: seconds without a heartbeat before another process takes a job
    bulk_chunk_rows: int = 1000  # FHIR_BULK_CHUNK_ROWS: resources per export part (one transaction each)
    bulk_file_rows: int = 100_000  # FHIR_BULK_FILE_ROWS: resources per export file
    bulk_pause: float = 0.0  # FHIR_BULK_PAUSE: seconds between export parts (spares a busy database)
    bulk_retention: float = 24.0  # FHIR_BULK_RETENTION: hours a finished job's files are kept
    import_max_bytes: int = 1 << 30  # FHIR_IMPORT_MAX_BYTES: largest NDJSON upload or input URL
    import_url_prefixes: tuple[str, ...] = ()  # FHIR_IMPORT_URL_PREFIXES (comma-separated); empty: any http(s)
    # Encryption at rest (storage/crypto.py): FHIR_ENCRYPTION_KEY (+ _KEY_ID) seals every resource version
    # written; FHIR_ENCRYPTION_OLD_KEYS (id:base64,…) only open. Unset: plain JSONB, as before.
    encryption: Keys | None = field(default_factory=Keys.from_env, repr=False)

    @classmethod
    def from_env(cls) -> Settings:
        base = os.environ.get("FHIR_BASE_URL")
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            database_read_url=os.environ.get("DATABASE_READ_URL") or None,
            base_url=base.rstrip("/") if base else None,
            max_body_bytes=_int_env("FHIR_MAX_BODY_BYTES", 64 * 1024 * 1024),
            pool_max=_int_env("FHIR_DB_POOL_MAX", 16),
            auth_enabled=os.environ.get("FHIR_AUTH_DISABLED", "").lower() not in ("1", "true", "yes"),
            auth_admin_token=os.environ.get("FHIR_AUTH_ADMIN_TOKEN") or None,
            access_log=os.environ.get("FHIR_ACCESS_LOG", "").lower() in ("1", "true", "yes"),
            log_format=(os.environ.get("FHIR_LOG_FORMAT") or "json").lower(),
            otel_endpoint=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
            metrics_token=os.environ.get("FHIR_METRICS_TOKEN") or None,
            openai_api_key=os.environ.get("OPENAI_API_KEY") or None,
            openai_base_url=os.environ.get("OPENAI_BASE_URL") or None,
            openai_model=os.environ.get("OPENAI_MODEL") or "gpt-4o-mini",
            openai_temperature=_float_env("OPENAI_TEMPERATURE", 0.2),
            openai_max_tokens=_int_env("OPENAI_MAX_TOKENS", 1200),
            openai_timeout=_float_env("OPENAI_TIMEOUT", 60.0),
            openai_max_retries=_int_env("OPENAI_MAX_RETRIES", 2),
            delivery_max_backoff=float(os.environ.get("FHIR_DELIVERY_MAX_BACKOFF", "300")),
            audit=(os.environ.get("FHIR_AUDIT") or "all").lower(),
            audit_retention_days=_int_env("FHIR_AUDIT_RETENTION_DAYS", 0),
            audit_purge_seconds=_float_env("FHIR_AUDIT_PURGE_SECONDS", 3600.0),
            audit_sync_commit=os.environ.get("FHIR_AUDIT_SYNC_COMMIT", "1").lower() not in ("0", "false", "no", "off"),
            zocdoc_base_url=os.environ.get("ZOCDOC_BASE_URL") or None,
            zocdoc_token_url=os.environ.get("ZOCDOC_TOKEN_URL") or None,
            zocdoc_client_id=os.environ.get("ZOCDOC_CLIENT_ID") or None,
            zocdoc_client_secret=os.environ.get("ZOCDOC_CLIENT_SECRET") or None,
            zocdoc_webhook_key=os.environ.get("ZOCDOC_WEBHOOK_KEY") or None,
            zocdoc_slot_minutes=_int_env("ZOCDOC_SLOT_MINUTES", 30),
            google_maps_api_key=os.environ.get("GOOGLE_MAPS_API_KEY") or None,
            google_maps_base_url=os.environ.get("GOOGLE_MAPS_BASE_URL") or "https://maps.googleapis.com",
            google_places_base_url=os.environ.get("GOOGLE_PLACES_BASE_URL") or "https://places.googleapis.com",
            external_timeout=_float_env("FHIR_EXTERNAL_TIMEOUT", 10.0),
            hold_minutes=_int_env("FHIR_HOLD_MINUTES", 10),
            bulk_jobs=_int_env("FHIR_BULK_JOBS", 2),
            bulk_workers=_int_env("FHIR_BULK_WORKERS", 2),
            bulk_lease=_float_env("FHIR_BULK_LEASE", 30.0),
            bulk_chunk_rows=_int_env("FHIR_BULK_CHUNK_ROWS", 1000),
            bulk_file_rows=_int_env("FHIR_BULK_FILE_ROWS", 100_000),
            bulk_pause=_float_env("FHIR_BULK_PAUSE", 0.0),
            bulk_retention=_float_env("FHIR_BULK_RETENTION", 24.0),
            import_max_bytes=_int_env("FHIR_IMPORT_MAX_BYTES", 1 << 30),
            import_url_prefixes=tuple(p for p in os.environ.get("FHIR_IMPORT_URL_PREFIXES", "").split(",") if p),
            encryption=Keys.from_env(),
        )
