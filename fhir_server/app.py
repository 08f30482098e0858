"""The ASGI application (DESIGN.md "One request, top to bottom"): lifespan, routes and the error handler."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from fhir_server import background, chat, validation
from fhir_server.audit import capture
from fhir_server.audit import service as audit
from fhir_server.config import Settings
from fhir_server.errors import FhirError, operation_outcome, unstorable_input
from fhir_server.events.dispatcher import Dispatcher
from fhir_server.fhir.json import dumps
from fhir_server.interactions import capabilities
from fhir_server.interactions.capabilities import register_search_params
from fhir_server.model import model
from fhir_server.observability import install as install_observability
from fhir_server.operations import load_operations
from fhir_server.rest.negotiation import negotiate
from fhir_server.rest.respond import fhir_response
from fhir_server.rest.routes import ROUTES
from fhir_server.search.engine import SearchEngine
from fhir_server.search.indexer import SearchIndexer
from fhir_server.search.registry import capability_params, load_registry
from fhir_server.state import Server
from fhir_server.storage import crypto, db
from fhir_server.subscriptions.service import Subscriptions, decorate_capabilities

log = logging.getLogger(__name__)
OO_MEDIA = "application/fhir+json; charset=utf-8"


def _outcome_response(status: int, outcome: dict[str, Any], headers: dict[str, str] | None = None,
                      request: Request | None = None) -> Response:
    """An OperationOutcome, in XML when the client asked for XML (JSON otherwise, and when unsure)."""
    if request is not None:
        try:
            fmt = negotiate(request)
        except FhirError:
            fmt = None
        if fmt is not None and fmt.xml:
            return fhir_response(outcome, fmt, status, headers)
    return Response(dumps(outcome), status, headers=headers, media_type=OO_MEDIA)


async def fhir_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return _outcome_response(exc.status, exc.outcome(), exc.headers, request)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "invalid")
    detail = exc.detail
    if exc.status_code == 404:
        detail = f"No FHIR interaction at {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    issue = {"severity": "error", "code": code, "diagnostics": str(detail)}
    return _outcome_response(exc.status_code, operation_outcome([issue]), dict(exc.headers or {}))


CLIENT_CLOSED = 499  # the client went away before its request was read in full (nginx's status for it)


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """A client that disconnects mid-body ends its request: nothing failed here, nothing to log or count
    as a server error. The answer goes nowhere; its status tells the metrics and access log what happened."""
    return Response(status_code=CLIENT_CLOSED)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RecursionError):
        issue = {"severity": "error", "code": "structure", "diagnostics": "The content nests too deeply"}
        return _outcome_response(400, operation_outcome([issue]))
    refused = unstorable_input(exc)
    if refused is not None:
        return _outcome_response(refused.status, refused.outcome(), None, request)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    issue = {"severity": "fatal", "code": "exception", "diagnostics": f"Internal server error ({type(exc).__name__})"}
    return _outcome_response(500, operation_outcome([issue]))


@asynccontextmanager
async def open_server(settings: Settings) -> AsyncIterator[Server]:
    """Migrate, open the pool and load the model: everything a request (or the loader) needs."""
    assert settings.database_url, "resolve the database (embedded or DATABASE_URL) before starting"
    crypto.configure(settings.encryption)  # the keys of this process (encryption at rest)
    db.migrate(settings.database_url)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        crypto.check_database(conn, settings.encryption)  # a key missing or wrong: stop here, clearly
        registry = load_registry(conn)
    pool = db.make_pool(capture.conninfo(settings.database_url, settings.audit), settings.pool_min, settings.pool_max)
    await pool.open(wait=True)
    read_pool = None
    if settings.database_read_url:  # a streaming replica: searches and reads that may lag go there
        read_pool = db.make_pool(settings.database_read_url, settings.pool_min, settings.pool_max, name="fhir-read")
        await read_pool.open(wait=True)
    model()  # load the R4 model and compile the validators before the first request
    validation.warm_up()
    load_operations()
    capabilities.refresh()
    server = Server(settings, pool, registry, SearchIndexer(registry, settings.base_url), SearchEngine(registry),
                    validation.validate, read_pool=read_pool)
    register_search_params(lambda res_type: capability_params(server.registry, res_type))
    try:
        yield server
    finally:
        await pool.close()
        if read_pool is not None:
            await read_pool.close()


def _authorization(app: FastAPI, settings: Settings) -> None:
    """SMART on FHIR authorization (``smart_auth``): on unless the settings explicitly turn it off."""
    app.state.auth = None
    if not settings.auth_enabled:
        log.warning("AUTHORIZATION IS OFF (FHIR_AUTH_DISABLED=1 or --no-auth): every client may read and "
                    "write every resource. Never run like this outside a trusted test setup.")
        return
    from smart_auth import install

    install(app, settings)


def _extension_routes(app: FastAPI) -> None:
    """Routes of extensions that are not FHIR interactions (e.g. signed partner webhooks)."""
    try:
        from extensions.scheduling.webhook import install as install_zocdoc_webhook
    except ImportError:  # pragma: no cover - the scheduling extension is part of the package
        return
    install_zocdoc_webhook(app)  # POST /webhooks/zocdoc (signed by ZocDoc, not a FHIR interaction)
    from extensions.bulk import install as install_bulk

    install_bulk(app)  # Bulk Data status, delete and file URLs and the NDJSON upload, ahead of [type]/[id]


def app_from_env() -> FastAPI:
    """The app for ``serve --workers N``: each worker process builds it from the environment its parent set."""
    settings = Settings.from_env()
    settings.host = os.environ.get("FHIR_HOST", settings.host)
    settings.port = int(os.environ.get("FHIR_PORT", settings.port))
    return create_app(settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FHIR server app. The database URL must be resolved (``settings.database_url``) before start."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_server(settings) as server:
            app.state.server = server
            if app.state.auth is not None:
                await app.state.auth.start(server)
            assert settings.database_url
            scheme = "https" if settings.ssl_certfile else "http"
            base = settings.base_url or f"{scheme}://{settings.host}:{settings.port}"
            subscriptions = Subscriptions(server, base)
            app.state.subscriptions = subscriptions
            capabilities.register_base_decorator(decorate_capabilities)
            dispatcher = Dispatcher(settings.database_url, server.consumers, on_notice=server.on_notice)
            dispatcher.start()
            subscriptions.start()
            app.state.audit = audit.Audit(server, base)  # the audit trail: recorder, worker, retention
            app.state.audit.start()
            app.state.chat = chat.Chat(server, app.state.audit, app.state.auth)  # the /chat socket's hub
            app.state.chat.start()
            # Everything loaded at start-up (definitions, model, compiled validators and search plans)
            # lives as long as the process: keep it out of the garbage collector's generations.
            gc.collect()
            gc.freeze()
            services = await background.start_all(server)  # extensions' background services
            try:
                yield
            finally:
                await background.stop_all(services)
                await app.state.chat.stop()
                await subscriptions.stop()
                await dispatcher.stop()
                await app.state.audit.stop()

    app = FastAPI(
        title="FHIR R4 server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.router.routes.extend(ROUTES)
    _extension_routes(app)
    _authorization(app, settings)
    audit.install(app)  # after the authorization guard: the audit middleware sees its refusals too
    chat.install(app)
    app.add_exception_handler(FhirError, fhir_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(ClientDisconnect, client_disconnected)
    app.add_exception_handler(Exception, unexpected_error)
    install_observability(app, settings)  # outermost: request ids, metrics, access log, spans; /healthz, /metrics…
    return app
