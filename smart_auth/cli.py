"""Operator commands of the authorization server (SMART App Launch 2.x; RFC 7591 client metadata):
``fhir-server clients add|list``, ``users add|list|disable|enable|reset-mfa``, ``token`` and ``launch``.

They work on the server's database directly (the operator has it), so they also work while
``serve`` runs. ``token`` mints a signed access token without any OAuth flow — for scripts, tests
and first steps — and ``launch`` issues an EHR launch value as an EHR session would.

An access token is bound to one FHIR base URL (its ``iss`` and ``aud``). ``serve`` records the base
URL it announces in the database (``record_serve_base``), and ``token`` signs for that one unless
``--base-url`` or ``$FHIR_BASE_URL`` says otherwise, so tokens work whatever port ``serve`` uses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg

from fhir_server.config import DEFAULT_PORT, Settings
from fhir_server.storage.db import migrate
from smart_auth import accounts, clients, grants, keys, mfa, users
from smart_auth.clients import Client
from smart_auth.config import ROLES, AuthConfig
from smart_auth.errors import OAuthError
from smart_auth.mail import make_mailer
from smart_auth.scopes import ScopeError, Scopes
from smart_auth.tokens import Grant, Issuer

Conn = psycopg.AsyncConnection[Any]
DEMO_CLIENT = "demo-app"
DEMO_REDIRECT = "http://127.0.0.1:9000/callback"
SERVE_BASE_KEY = "serve_base_url"  # server_info key: the base URL the last started serve announced


def add_commands(sub: Any, database_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the auth subcommands to the ``fhir-server`` parser."""
    cl = sub.add_parser("clients", help="register and list OAuth clients (SMART apps, backend services)")
    cl_sub = cl.add_subparsers(dest="clients_command", metavar="ACTION", required=True)
    add = cl_sub.add_parser("add", help="register a client; prints its client_id (and secret)")
    add.add_argument("name", help="the client's display name")
    add.add_argument("--type", choices=sorted(clients.METHODS), default="public",
                     help="public (PKCE only), confidential (secret or key) or backend (client_credentials)")
    add.add_argument("--redirect-uri", action="append", default=[], help="a redirect URI (repeatable)")
    add.add_argument("--scope", default=None, help="the scopes it may be granted (default: by type)")
    add.add_argument("--jwks", type=Path, default=None, help="a file with its public JWK Set (private_key_jwt)")
    add.add_argument("--jwks-url", default=None, help="the URL of its public JWK Set (private_key_jwt)")
    add.add_argument("--auth-method", default=None, help="token endpoint auth method (default: by type)")
    add.add_argument("--client-id", default=None, help="the client_id (default: generated)")
    database_options(add)
    lst = cl_sub.add_parser("list", help="list the registered clients")
    database_options(lst)

    us = sub.add_parser("users", help="accounts for the login page: add, list, disable, enable")
    us_sub = us.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    uadd = us_sub.add_parser("add", help="create an account (or change it: password, record, name, email, role)")
    uadd.add_argument("username", help="the sign-in name (an existing account is changed)")
    uadd.add_argument("--password", default=None, help="the password (default: read from stdin; '-' for none, "
                      "with --email: an invitation link is sent)")
    uadd.add_argument("--fhir-user", default=None, help="its FHIR resource, e.g. Practitioner/123 or Patient/456")
    uadd.add_argument("--name", default=None, help="display name")
    uadd.add_argument("--email", default=None, help="email address (sign-in name, password reset)")
    uadd.add_argument("--role", choices=ROLES, default=None,
                      help="patient, practitioner or admin (default: patient for Patient/ records, else practitioner)")
    uadd.add_argument("--email-verified", action="store_true", help="the address is known to be right")
    database_options(uadd)
    ulist = us_sub.add_parser("list", help="list the accounts")
    database_options(ulist)
    for action in ("disable", "enable"):
        switch = us_sub.add_parser(action, help=("turn an account off: its sessions end and their tokens are revoked"
                                                 if action == "disable" else "turn an account on again"))
        switch.add_argument("username", help="the account's sign-in name")
        database_options(switch)
    reset_mfa = us_sub.add_parser("reset-mfa", help="forget an account's authenticator (a lost phone)")
    reset_mfa.add_argument("username", help="the account's sign-in name")
    database_options(reset_mfa)

    tok = sub.add_parser(
        "token", help="mint a signed access token (an operator tool for scripts and tests)",
        description="Print a signed access token, as the token endpoint would issue it, without any OAuth flow. "
        "A token is valid only for the FHIR base URL it names: by default the one the last 'fhir-server serve' "
        "on this database announced (use the same --data-dir or DATABASE_URL). Clients must reach the server "
        "under exactly that URL (127.0.0.1 and localhost are different bases).")
    tok.add_argument("--scope", required=True, help="e.g. 'user/*.rs' or 'patient/*.rs' (with --patient)")
    tok.add_argument("--patient", default=None, help="the patient in context (for patient/ scopes)")
    tok.add_argument("--user", default=None, help="an account (its fhirUser goes into the token)")
    tok.add_argument("--client", default="fhir-server-cli", help="the client_id claim")
    tok.add_argument("--expires-in", type=int, default=3600, help="lifetime in seconds (default 3600)")
    tok.add_argument("--base-url", default=None, help=f"the FHIR base URL the token is for (default: "
                     f"$FHIR_BASE_URL, else the URL serve announced, else http://127.0.0.1:{DEFAULT_PORT})")
    database_options(tok)

    la = sub.add_parser(
        "launch", help="issue an EHR launch value (what an EHR session passes to a SMART app)",
        description="Print an opaque launch value for a SMART EHR launch: open the app's launch URL with "
        "?iss=[base]&launch=VALUE; when the app asks for the launch scope, the token response carries this "
        "context (patient, encounter, fhirContext). The value is valid for an hour.")
    la.add_argument("--patient", default=None, metavar="ID",
                    help="the Patient id in context (the token response's 'patient'; for launch/patient)")
    la.add_argument("--encounter", default=None, metavar="ID",
                    help="the Encounter id in context (the token response's 'encounter'; for launch/encounter)")
    la.add_argument("--context", action="append", default=[], help="fhirContext reference Type/id (repeatable)")
    la.add_argument("--client", default=None, help="only this client_id may use it")
    database_options(la)


def run(command: str, args: argparse.Namespace, settings: Settings) -> int:
    handlers: dict[str, Callable[[Conn, argparse.Namespace, Settings], Awaitable[int]]] = {
        "clients": _clients, "users": _users, "token": _token, "launch": _launch}
    assert settings.database_url
    migrate(settings.database_url)

    async def go() -> int:
        async with await psycopg.AsyncConnection.connect(settings.database_url or "", autocommit=True) as conn:
            return await handlers[command](conn, args, settings)

    try:
        return asyncio.run(go())
    except (OAuthError, ScopeError, ValueError) as exc:
        print(f"fhir-server {command}: {getattr(exc, 'description', exc)}", file=sys.stderr)
        return 2


async def _clients(conn: Conn, args: argparse.Namespace, settings: Settings) -> int:
    if args.clients_command == "list":
        for c in await clients.all_clients(conn):
            print(f"{c.client_id}\t{c.kind}\t{c.auth_method}\t{c.name}\t{' '.join(c.redirect_uris)}\t{c.scope}")
        return 0
    jwks = json.loads(args.jwks.read_text()) if args.jwks else None
    method = args.auth_method or ("none" if args.type == "public" else
                                  "private_key_jwt" if args.type == "backend" or jwks or args.jwks_url
                                  else "client_secret_basic")
    client = Client(args.client_id or "", args.name, args.type, method, args.scope or clients.DEFAULT_SCOPE[args.type],
                    args.redirect_uri, None, jwks, args.jwks_url)
    secret = await clients.register(conn, client)
    print(json.dumps({**client.metadata(), **({"client_secret": secret} if secret else {})}, indent=2))
    return 0


async def _users(conn: Conn, args: argparse.Namespace, settings: Settings) -> int:
    config = AuthConfig.from_settings(settings)
    if args.users_command == "list":
        for u in await users.all_users(conn):
            state = "disabled" if u.disabled else "active"
            print(f"{u.username}\t{u.role}\t{u.email or ''}\t{u.fhir_user or ''}\t{u.name or ''}\t{state}"
                  f"\t{'mfa' if u.mfa else 'no-mfa'}")
        return 0
    if args.users_command in ("disable", "enable"):
        if not await accounts.set_disabled(conn, args.username, args.users_command == "disable",
                                           config.access_seconds):
            raise ValueError(f"no account '{args.username}'")
        print(f"user '{args.username}' {args.users_command}d")
        return 0
    if args.users_command == "reset-mfa":
        if await users.get_user(conn, args.username) is None:
            raise ValueError(f"no account '{args.username}'")
        await mfa.remove(conn, args.username)
        print(f"user '{args.username}': authenticator and recovery codes removed")
        return 0
    password = args.password if args.password is not None else sys.stdin.readline().rstrip("\n")
    if password == "-":
        password = None
    await users.add_user(conn, args.username, password, args.fhir_user, args.name, email=args.email,
                         role=args.role, email_verified=args.email_verified)
    user = await users.get_user(conn, args.username)
    if password is None and user is not None and user.email:
        operator = SimpleNamespace(config=config, mailer=make_mailer(config))
        await accounts.send_reset(operator, conn, await operator_base(conn, settings), user, invite=True)
        print(f"user '{args.username}' saved; an invitation to choose a password was sent to {user.email}")
        return 0
    print(f"user '{args.username}' saved")
    return 0


def default_base(settings: Settings, host: str = "127.0.0.1", port: int = DEFAULT_PORT, scheme: str = "http") -> str:
    """The base URL ``serve`` announces: the configured one, else the listen address (loopback for "any")."""
    if settings.base_url:
        return settings.base_url
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


def record_serve_base(settings: Settings, base: str) -> None:
    """Remember the base URL ``serve`` announces, for ``token`` and other operator commands."""
    assert settings.database_url
    migrate(settings.database_url)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO server_info (key, value) VALUES (%s, %s) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (SERVE_BASE_KEY, base))


async def operator_base(conn: Conn, settings: Settings) -> str:
    """The base URL for tokens and links: $FHIR_BASE_URL, else what serve announced, else the default."""
    if settings.base_url:
        return settings.base_url
    cur = await conn.execute("SELECT value FROM server_info WHERE key = %s", (SERVE_BASE_KEY,))
    row = await cur.fetchone()
    return str(row[0]) if row else default_base(settings)


async def mint(conn: Conn, settings: Settings, scope: str, base: str, seconds: int, patient: str | None = None,
               username: str | None = None, client_id: str = "fhir-server-cli") -> str:
    """A signed access token, as the token endpoint would issue it."""
    scopes = Scopes.parse(scope)
    if not scopes.resources:
        raise ValueError("give at least one clinical scope, e.g. 'user/*.rs'")
    fhir_user = None
    if username is not None:
        user = await users.get_user(conn, username)
        if user is None:
            raise ValueError(f"no account '{username}' (fhir-server users add)")
        fhir_user = user.fhir_user
    context = {"patient": patient} if patient else {}
    grant = Grant(grants.new_id(), client_id, scopes, username, fhir_user, context)
    token, _ = Issuer(await keys.load(conn), AuthConfig.from_settings(settings)).access_token(grant, base, seconds)
    return token


async def _token(conn: Conn, args: argparse.Namespace, settings: Settings) -> int:
    base = (args.base_url or "").rstrip("/") or await operator_base(conn, settings)
    print(await mint(conn, settings, args.scope, base, args.expires_in, args.patient, args.user, args.client))
    return 0


async def _launch(conn: Conn, args: argparse.Namespace, settings: Settings) -> int:
    from smart_auth.endpoints.admin import launch_context

    data = {"patient": args.patient, "encounter": args.encounter, "fhirContext": args.context}
    context = launch_context({k: v for k, v in data.items() if v is not None})
    print(await grants.save_launch(conn, context, args.client, AuthConfig.from_settings(settings).launch_seconds))
    return 0


async def _demo(conn: Conn, settings: Settings, base: str, token_command: str) -> list[str]:
    if await clients.get(conn, DEMO_CLIENT) is None:
        await clients.register(conn, Client(DEMO_CLIENT, "Demo SMART app", "public", "none",
                                            clients.DEFAULT_SCOPE["public"], [DEMO_REDIRECT]))
    password = secrets.token_urlsafe(9)
    await users.add_user(conn, "demo", password, None, "Demo User")
    token = await mint(conn, settings, "user/*.cruds", base, 12 * 3600, username="demo", client_id=DEMO_CLIENT)
    return [
        "Authorization is on (SMART App Launch 2.x; discovery at /.well-known/smart-configuration).",
        f"A demo access token (user/*.cruds, valid 12 hours) for curl and scripts, valid at {base} "
        "(use that URL exactly; localhost is not 127.0.0.1):",
        f"  export TOKEN={token}",
        f"  curl -H \"Authorization: Bearer $TOKEN\" '{base}/Patient?family=koepp&_elements=id'",
        f"More tokens (for {base}): {token_command}",
        f"Demo SMART app: client_id {DEMO_CLIENT} (public, PKCE S256), redirect_uri {DEMO_REDIRECT}; "
        f"sign in as demo / {password}",
    ]


def demo_banner(settings: Settings, base: str, token_command: str) -> str:
    """Make sure the demo client and account exist; the lines telling a newcomer how to get in."""
    assert settings.database_url

    async def go() -> list[str]:
        async with await psycopg.AsyncConnection.connect(settings.database_url or "", autocommit=True) as conn:
            return await _demo(conn, settings, base, token_command)

    return "\n".join(asyncio.run(go()))
