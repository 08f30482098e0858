"""The ``fhir-server`` command: serve, migrate, load, reindex, rotate-key, fhirpath; clients, users, token, launch.

Every subcommand that touches the database finds it the same way: ``DATABASE_URL`` (or
``--database-url``) names an external PostgreSQL ≥ 15; otherwise an embedded PostgreSQL runs in
``--data-dir`` (default: the user data folder), shared with any other ``fhir-server`` process
using that folder, and stopped when the last one exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fhir_server import __version__
from fhir_server.config import DEFAULT_PORT, Settings, default_data_dir
from fhir_server.storage.crypto import EncryptionError

EPILOG = """\
examples:
  fhir-server serve --demo                 run on http://127.0.0.1:8080 with 50 Synthea patients
  fhir-server serve --host 0.0.0.0 --port 9000 --data-dir ./fhir-data
  fhir-server load ./bundles/ patients.ndjson   load files into the same data directory
  DATABASE_URL=postgresql://user:pw@db/fhir fhir-server serve   use your own PostgreSQL
  fhir-server fhirpath 'Patient.name.given' patient.json
  FHIR_ENCRYPTION_KEY=$(cat key.b64) fhir-server rotate-key   encrypt / re-encrypt stored data (see rotate-key --help)
  fhir-server sync zocdoc --zip 10013 --specialty sp_901     ZocDoc providers and availability
  fhir-server import places --near 40.72,-74.00 --radius 2000 --type hospital
  fhir-server import legacy postgresql://user:pw@legacy-db/platform
  fhir-server token --scope 'user/*.rs'    an access token for curl: -H "Authorization: Bearer $TOKEN"
  fhir-server clients add "My app" --type public --redirect-uri http://127.0.0.1:9000/callback
  fhir-server users add alice --fhir-user Practitioner/123 --password '...'

environment:
  DATABASE_URL         external PostgreSQL (>= 15); unset = embedded PostgreSQL in --data-dir
  FHIR_DATA_DIR        default for --data-dir
  FHIR_BASE_URL        public base URL used in links and Location headers (default: from the request)
  FHIR_MAX_BODY_BYTES  request body limit (default 64 MiB)
  FHIR_ENCRYPTION_KEY  encryption at rest: 32 bytes in base64 (openssl rand -base64 32); every resource
                       version written is sealed with it (AES-256-GCM); unset = stored as plain JSONB
  FHIR_ENCRYPTION_KEY_ID   the id stored with each row sealed by that key (default k1)
  FHIR_ENCRYPTION_OLD_KEYS id:base64key,...  keys that only open rows sealed before a rotation
  ZOCDOC_BASE_URL, ZOCDOC_TOKEN_URL, ZOCDOC_CLIENT_ID, ZOCDOC_CLIENT_SECRET, ZOCDOC_WEBHOOK_KEY   ZocDoc
  GOOGLE_MAPS_API_KEY  Google Maps Platform (places import, $geocode)
  FHIR_AUTH_DISABLED   1 = no authorization at all (like serve --no-auth; trusted test setups only)
  FHIR_AUTH_ADMIN_TOKEN  bearer token for dynamic client registration and the EHR launch endpoint
  FHIR_LOG_LEVEL, FHIR_LOG_FORMAT (json|text), FHIR_ACCESS_LOG=1   logging (default WARNING, json, no access log)
  OTEL_EXPORTER_OTLP_ENDPOINT  send OpenTelemetry traces (OTLP/HTTP) there; unset = no tracing
  FHIR_METRICS_TOKEN   /metrics answers only this Bearer token (default: /metrics is public)
"""


def _database_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir", type=Path, default=None,
        help=f"folder of the embedded PostgreSQL (default: $FHIR_DATA_DIR or {default_data_dir()})",
    )
    p.add_argument("--database-url", default=None, help="PostgreSQL URL (default: $DATABASE_URL; unset = embedded)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "database_url", None):
        settings.database_url = args.database_url
    if getattr(args, "data_dir", None):
        settings.data_dir = args.data_dir
    if getattr(args, "base_url", None):
        settings.base_url = args.base_url.rstrip("/")
    if not settings.database_url:
        from fhir_server.storage.embedded import start_embedded

        settings.database_url = start_embedded(settings.data_dir)
    return settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fhir-server",
        description="A FHIR R4 (4.0.1) server on PostgreSQL: REST API, transactions, history, validation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"fhir-server {__version__} (FHIR 4.0.1)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser(
        "serve", help="run the FHIR server (the FHIR base is the root: /Patient, /metadata)",
        description="Run the FHIR R4 server. It applies database migrations first and, without DATABASE_URL, "
        "starts (or joins) the embedded PostgreSQL in --data-dir. Authorization (SMART on FHIR) is on: get a "
        "token with 'fhir-server token'; it is signed for the base URL serve prints, so clients must use that "
        "URL exactly (or set --base-url, which production deployments should do).")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--demo", action="store_true",
                       help="load the demo data (50 Synthea patients, 9,510 resources) once before serving")
    serve.add_argument("--base-url", default=None,
                       help="public base URL, e.g. https://fhir.example.org (default: $FHIR_BASE_URL, else taken "
                       "from each request's Host header; set it in production)")
    serve.add_argument("--access-log", action="store_true",
                       help="log one line per request (method, path, FHIR interaction, status, duration, request id)")
    serve.add_argument("--log-format", choices=("json", "text"), default=None,
                       help="log lines as JSON objects or plain text (default: $FHIR_LOG_FORMAT or json)")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes sharing the port and the database (default 1; use the cores you have)")
    serve.add_argument("--no-auth", action="store_true",
                       help="turn authorization OFF: anyone may read and write everything (trusted tests only)")
    serve.add_argument("--ssl-certfile", default=None, help="serve HTTPS (TLS 1.2+, 1.3 preferred): certificate (PEM)")
    serve.add_argument("--ssl-keyfile", default=None, help="the certificate's private key (PEM)")
    _database_options(serve)

    migrate = sub.add_parser(
        "migrate", help="apply database migrations (serve does this too) and exit",
        description="Create or upgrade the database schema, then exit. Safe to run while servers run and from "
        "several processes at once; serve, load and the other commands do it themselves, so this is for "
        "deployments that upgrade the schema as a separate step.")
    _database_options(migrate)

    load = sub.add_parser(
        "load", help="load FHIR data: transaction/batch Bundles, NDJSON, single resources, or folders of them",
        description="Load files (.json, .ndjson, optionally .gz) or folders into the server's database. "
        "Transaction Bundles are atomic; batch Bundles, NDJSON lines and single resources are written "
        "one by one (PUT when they carry an id, POST when not). Works while 'serve' is running.",
    )
    load.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                      help="a .json/.ndjson file (optionally .gz) or a folder searched for them")
    load.add_argument("--concurrency", type=int, default=4, help="files loaded at once (default 4)")
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    _database_options(load)

    reindex = sub.add_parser(
        "reindex", help="rebuild the search indexes of stored resources (after adding a SearchParameter or upgrading)",
        description="Recompute the search index entries of the stored resources (all types, or those given with "
        "--type), e.g. after creating a SearchParameter resource or upgrading the server; new writes are "
        "indexed as they happen. Works while 'serve' is running; POST [base]/$reindex does the same over HTTP.")
    reindex.add_argument("--type", action="append", dest="types", metavar="TYPE",
                         help="only this resource type (repeatable; default: all types)")
    _database_options(reindex)

    rotate = sub.add_parser(
        "rotate-key", help="encrypt stored resources with the current key, online (after setting or changing "
        "FHIR_ENCRYPTION_KEY)", description=ROTATE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    rotate.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")
    rotate.add_argument("--check", action="store_true",
                        help="only count the stored versions per key (and in plain JSON); change nothing")
    _database_options(rotate)

    sub.add_parser("fhirpath", help="evaluate a FHIRPath expression on a resource file "
                   "(fhir-server fhirpath --help)")
    from extensions.scheduling.commands import add_commands as add_scheduling_commands

    add_scheduling_commands(sub, _database_options)
    from smart_auth.cli import add_commands

    add_commands(sub, _database_options)
    _describe_subcommands(p)
    return p


def _describe_subcommands(p: argparse.ArgumentParser) -> None:
    """Give every subcommand without a description its one-line help as one, so ``COMMAND --help`` says what it does."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                if child.description is None and helps.get(name):
                    text = str(helps[name])
                    child.description = text[0].upper() + text[1:] + "."
                _describe_subcommands(child)


ROTATE_HELP = """\
Re-encrypt every stored resource version (tables resource and resource_history) that is not sealed
with the current key (FHIR_ENCRYPTION_KEY): versions sealed with an older key, and versions still in
plain JSON (encryption switched on after data existed). Online: short transactions of --batch rows;
rows a running server is writing at that moment are retried at the end. Servers keep running.

Give it the same environment as the servers (FHIR_ENCRYPTION_KEY, FHIR_ENCRYPTION_KEY_ID,
FHIR_ENCRYPTION_OLD_KEYS, and DATABASE_URL or --data-dir). It exits 1 if rows are left under an old
key (a server still running with the old key as its current one?): run it again after restarting it.

Rotating to a new key:
  1. make one:                    openssl rand -base64 32 > k2.b64
  2. restart every server with    FHIR_ENCRYPTION_KEY=$(cat k2.b64) FHIR_ENCRYPTION_KEY_ID=k2
                                  FHIR_ENCRYPTION_OLD_KEYS=k1:$(cat k1.b64)
     (new versions are sealed with k2, k1 still opens the older ones)
  3. run, in the same environment: fhir-server rotate-key
  4. when it reports nothing left under k1: drop FHIR_ENCRYPTION_OLD_KEYS, restart, retire k1.

Encrypting an existing database: set FHIR_ENCRYPTION_KEY, restart the servers, run rotate-key.
Turning encryption off: restart with the key only in FHIR_ENCRYPTION_OLD_KEYS (k1:...) and no
FHIR_ENCRYPTION_KEY, run rotate-key (versions go back to plain JSONB), then drop the old key.
Keep the keys somewhere safe and apart from database backups: without them, nothing is readable.
"""

TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!MD5:!DSS"


def _logging(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    """serve's logs: the chosen format and access log, here and in uvicorn (and in each of its workers)."""
    from fhir_server.observability import logs

    settings.access_log = settings.access_log or args.access_log
    settings.log_format = args.log_format or settings.log_format
    level = os.environ.get("FHIR_LOG_LEVEL", "WARNING")
    logs.configure(settings.log_format, level)
    return {"access_log": False, "log_config": logs.dict_config(settings.log_format, level, settings.access_log)}


def _check_keys(settings: Settings) -> None:
    """A key missing or wrong for the stored data: stop now with the reason (not in a start-up traceback)."""
    import psycopg

    from fhir_server.storage import crypto
    from fhir_server.storage.db import migrate

    assert settings.database_url
    migrate(settings.database_url)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        crypto.check_database(conn, settings.encryption)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fhir_server.app import create_app

    settings = _settings(args)
    _check_keys(settings)
    settings.host, settings.port = args.host, args.port
    settings.ssl_certfile, settings.ssl_keyfile = args.ssl_certfile, args.ssl_keyfile
    if args.no_auth:
        settings.auth_enabled = False
    if args.demo:
        asyncio.run(load_demo(settings))
    scheme = "https" if args.ssl_certfile else "http"
    if not settings.auth_enabled:
        print("WARNING: authorization is OFF (--no-auth / FHIR_AUTH_DISABLED=1): every client may read and write "
              "every resource.", file=sys.stderr, flush=True)
    else:
        from smart_auth.cli import default_base, demo_banner, record_serve_base

        base = default_base(settings, args.host, args.port, scheme)
        record_serve_base(settings, base)  # fhir-server token signs for this base by default
        token_command = "fhir-server token --scope 'user/*.rs'" + (
            f" --data-dir {shlex.quote(str(args.data_dir))}" if args.data_dir else "")
        if args.demo:
            print(demo_banner(settings, base, token_command), flush=True)
        else:
            print(f"Authorization is on: get an access token for {base} with {token_command}", flush=True)
    # uvicorn re-raises SIGTERM after its graceful shutdown; exit normally then, so the embedded
    # PostgreSQL is stopped by its exit handler.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"FHIR R4 server on {scheme}://{args.host}:{args.port}/ (CapabilityStatement at /metadata)", flush=True)
    options: dict[str, object] = {"host": args.host, "port": args.port, "log_level": "info", "proxy_headers": True,
                                  **_logging(args, settings)}
    if args.ssl_certfile:  # Python's TLS server context refuses < TLS 1.2; AEAD suites only (TLS 1.3 first)
        options.update(ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile, ssl_ciphers=TLS12_CIPHERS)
    if args.workers > 1:
        # Worker processes build the app from the environment: hand them what was resolved here
        # (the embedded PostgreSQL keeps running for as long as this parent process does).
        assert settings.database_url
        os.environ["DATABASE_URL"] = settings.database_url
        os.environ["FHIR_HOST"], os.environ["FHIR_PORT"] = args.host, str(args.port)
        if settings.base_url:
            os.environ["FHIR_BASE_URL"] = settings.base_url
        if not settings.auth_enabled:
            os.environ["FHIR_AUTH_DISABLED"] = "1"
        os.environ["FHIR_LOG_FORMAT"] = settings.log_format
        if settings.access_log:
            os.environ["FHIR_ACCESS_LOG"] = "1"
        from fhir_server.observability.metrics import prepare_multiprocess

        prepare_multiprocess()  # the workers share their Prometheus metrics through files in one directory
        uvicorn.run("fhir_server.app:app_from_env", factory=True, workers=args.workers, **options)  # type: ignore[arg-type]
    else:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from fhir_server.storage.db import migrate

    settings = _settings(args)
    assert settings.database_url
    applied = migrate(settings.database_url)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


async def _load(settings: Settings, sources: Sequence[object], progress: bool, concurrency: int) -> int:
    from fhir_server.app import open_server
    from fhir_server.load import Loader

    async with open_server(settings) as server:
        loader = Loader(server, settings.base_url or f"http://localhost:{settings.port}", concurrency, progress)
        report = await loader.load(sources)  # type: ignore[arg-type]
    print(f"loaded {report.resources:,} resources from {report.files} files in {report.seconds:.1f} s "
          f"({report.rate:,.0f}/s); {len(report.failures)} failed")
    for where, reason in report.failures[:50]:
        print(f"  FAILED {where}: {reason}")
    if len(report.failures) > 50:
        print(f"  ... and {len(report.failures) - 50} more")
    return 1 if report.failures else 0


async def load_demo(settings: Settings) -> None:
    import psycopg

    from fhir_server.demo import synthea_files
    from fhir_server.storage.db import migrate

    assert settings.database_url
    migrate(settings.database_url)
    with psycopg.connect(settings.database_url) as conn:
        if conn.execute("SELECT 1 FROM server_info WHERE key = 'demo_loaded'").fetchone():
            print("demo data already loaded", flush=True)
            return
    print("loading demo data (50 Synthea patients)...", flush=True)
    await _load(settings, list(synthea_files()), progress=True, concurrency=4)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("INSERT INTO server_info (key, value) VALUES ('demo_loaded', now()::text) "
                     "ON CONFLICT (key) DO NOTHING")


async def _reindex(settings: Settings, types: list[str] | None) -> int:
    from fhir_server.app import open_server
    from fhir_server.search.reindex import reindex

    async with open_server(settings) as server:
        return await reindex(server, types)


def cmd_reindex(args: argparse.Namespace) -> int:
    from fhir_server.errors import FhirError

    settings = _settings(args)
    try:
        count = asyncio.run(_reindex(settings, args.types))
    except FhirError as exc:
        print(f"fhir-server reindex: {exc.diagnostics}", file=sys.stderr)
        return 2
    print(f"re-indexed {count:,} resources")
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    import psycopg

    from fhir_server.storage import crypto, rotate
    from fhir_server.storage.db import migrate

    settings = _settings(args)
    keys = settings.encryption
    assert settings.database_url
    migrate(settings.database_url)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if args.check:
            for table in crypto.TABLES:
                counts = rotate.count(conn, table)
                found = ", ".join(f"{n:,} {'in ' + k if k == rotate.PLAIN else 'under ' + k}"
                                  for k, n in sorted(counts.items())) or "empty"
                print(f"{table}: {found}")
            return 0
        if keys is None:
            print("fhir-server rotate-key: no key: set FHIR_ENCRYPTION_KEY (to encrypt) or FHIR_ENCRYPTION_OLD_KEYS "
                  "alone (to decrypt); see fhir-server rotate-key --help", file=sys.stderr)
            return 2
        crypto.configure(keys)
        crypto.check_database(conn, keys)
        target = f"sealed with key '{keys.current_id}'" if keys.current_id else "in plain JSON (no FHIR_ENCRYPTION_KEY)"
        left = 0
        for table in crypto.TABLES:
            last = [time.monotonic()]

            def progress(r: rotate.TableReport, last: list[float] = last) -> None:
                if time.monotonic() - last[0] >= 10:
                    print(f"  {r.table}: {r.changed:,} so far", flush=True)
                    last[0] = time.monotonic()

            report = rotate.rotate_table(conn, keys, table, args.batch, progress)
            was = ", ".join(f"{n:,} {'in ' + k if k == rotate.PLAIN else 'under ' + k}"
                            for k, n in sorted(report.before.items()))
            print(f"{table}: {report.changed:,} versions now {target}" + (f" ({was})" if was else "")
                  + (f"; {report.left:,} left" if report.left else ""), flush=True)
            left += report.left
    if left:
        print(f"fhir-server rotate-key: {left:,} versions are not {target} yet: rows held by writers all along, or "
              "written since with another key (is a server still running with the old key as current?). "
              "Run it again.", file=sys.stderr)
        return 1
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from fhir_server.load import find_files

    try:
        files = find_files(args.paths)
    except FileNotFoundError as exc:
        print(f"fhir-server load: {exc}", file=sys.stderr)
        return 2
    if not files:
        print("fhir-server load: no .json/.ndjson files found", file=sys.stderr)
        return 2
    settings = _settings(args)
    return asyncio.run(_load(settings, files, not args.quiet, args.concurrency))


def main(argv: list[str] | None = None) -> int:
    from fhir_server.observability.logs import configure

    try:
        configure(os.environ.get("FHIR_LOG_FORMAT") or "json", os.environ.get("FHIR_LOG_LEVEL", "WARNING"), force=False)
    except ValueError as exc:
        print(f"fhir-server: FHIR_LOG_FORMAT / FHIR_LOG_LEVEL: {exc}", file=sys.stderr)
        return 2
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fhirpath"]:  # its own argument parser (options may come first)
        from fhir_server.fhirpath.cli import main as fhirpath_main

        return fhirpath_main(argv[1:])
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except EncryptionError as exc:  # a key setting, or keys that do not open the stored data
        print(f"fhir-server {args.command}: {exc.diagnostics}" if args.command else f"fhir-server: {exc.diagnostics}",
              file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    commands = {"serve": cmd_serve, "migrate": cmd_migrate, "load": cmd_load, "reindex": cmd_reindex,
                "rotate-key": cmd_rotate_key}
    if args.command in ("sync", "import"):
        from extensions.scheduling.commands import run as run_scheduling

        return run_scheduling(args.command, args, _settings(args))
    if args.command in ("clients", "users", "token", "launch"):
        from smart_auth.cli import run

        return run(args.command, args, _settings(args))
    if args.command not in commands:
        parser().print_help()
        return 2
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
