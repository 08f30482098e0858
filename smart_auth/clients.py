"""Client registration (RFC 7591 §2 client metadata; SMART App Launch 2.x client types).

Three kinds of client: ``public`` (a browser or native app: no secret, PKCE only),
``confidential`` (a server-side app: a client secret, or a key pair with ``private_key_jwt``), and
``backend`` (SMART Backend Services: ``client_credentials`` with ``private_key_jwt`` only). The same
checks serve ``fhir-server clients add`` and the dynamic registration endpoint.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from psycopg.types.json import Jsonb

from fhir_server.storage.repository import Conn
from smart_auth.errors import InvalidClientMetadata, InvalidRedirectUri
from smart_auth.grants import digest, new_id, new_secret
from smart_auth.scopes import ScopeError, Scopes

Json = dict[str, Any]
METHODS = {
    "public": ("none",),
    "confidential": ("client_secret_basic", "client_secret_post", "private_key_jwt"),
    "backend": ("private_key_jwt",),
}
_USER_APP = ("launch launch/patient launch/encounter openid fhirUser profile offline_access online_access "
             "patient/*.cruds user/*.cruds")
DEFAULT_SCOPE = {"public": _USER_APP, "confidential": _USER_APP, "backend": "system/*.cruds"}
LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass(slots=True)
class Client:
    client_id: str
    name: str
    kind: str
    auth_method: str
    scope: str
    redirect_uris: list[str] = field(default_factory=list)
    secret_hash: str | None = None
    jwks: Json | None = None
    jwks_uri: str | None = None

    @property
    def scopes(self) -> Scopes:
        return Scopes.parse(self.scope)

    def secret_matches(self, secret: str) -> bool:
        return self.secret_hash is not None and hmac.compare_digest(self.secret_hash, digest(secret))

    def metadata(self) -> Json:
        """The RFC 7591 §3.2.1 client information (without the secret)."""
        grants = ["client_credentials"] if self.kind == "backend" else ["authorization_code", "refresh_token"]
        out: Json = {"client_id": self.client_id, "client_name": self.name,
                     "token_endpoint_auth_method": self.auth_method, "grant_types": grants, "scope": self.scope}
        if self.kind != "backend":
            out["redirect_uris"] = self.redirect_uris
            out["response_types"] = ["code"]
        if self.jwks is not None:
            out["jwks"] = self.jwks
        if self.jwks_uri is not None:
            out["jwks_uri"] = self.jwks_uri
        return out


def check_redirect_uri(uri: str) -> None:
    """RFC 6749 §3.1.2: absolute, no fragment; https, http on the loopback, or a private-use scheme."""
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or "#" in uri:
        raise InvalidRedirectUri(f"'{uri}' must be an absolute URI without a fragment")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise InvalidRedirectUri(f"'{uri}': plain http is allowed only on the loopback interface; use https")
    if parts.scheme not in ("http", "https") and "." not in parts.scheme:
        raise InvalidRedirectUri(f"'{uri}': a native app's scheme must be a reversed domain name (com.example.app)")


def check(client: Client) -> None:
    """Raise an RFC 7591 error unless the metadata make a usable client of its kind."""
    texts = [client.client_id, client.name, client.scope, client.jwks_uri or "", *client.redirect_uris]
    if any("\x00" in t for t in texts) or b"\\u0000" in orjson.dumps(client.jwks):
        raise InvalidClientMetadata("the metadata contain a NUL character")
    if client.kind not in METHODS:
        raise InvalidClientMetadata(f"the client type must be one of {', '.join(METHODS)}")
    if client.auth_method not in METHODS[client.kind]:
        raise InvalidClientMetadata(f"a {client.kind} client authenticates with {' or '.join(METHODS[client.kind])}")
    if client.kind != "backend":
        if not client.redirect_uris:
            raise InvalidRedirectUri("an app that uses the authorization code flow needs at least one redirect URI")
        for uri in client.redirect_uris:
            check_redirect_uri(uri)
    if client.auth_method == "private_key_jwt":
        if (client.jwks is None) == (client.jwks_uri is None):
            raise InvalidClientMetadata("private_key_jwt needs exactly one of jwks (the public keys) or jwks_uri")
        if client.jwks is not None and not isinstance(client.jwks.get("keys"), list):
            raise InvalidClientMetadata("jwks must be a JWK Set: {\"keys\": [...]}")
        if client.jwks_uri is not None and urlsplit(client.jwks_uri).scheme not in ("http", "https"):
            raise InvalidClientMetadata("jwks_uri must be an http(s) URL")
    try:
        scopes = Scopes.parse(client.scope)
    except ScopeError as exc:
        raise InvalidClientMetadata(f"scope: {exc}") from exc
    if not scopes:
        raise InvalidClientMetadata("the client needs at least one scope it may be granted")


async def register(conn: Conn, client: Client) -> str | None:
    """Check and store a new client (assigning a client_id if it has none); the secret when it has one."""
    check(client)
    client.client_id = client.client_id or new_id()
    secret = None
    if client.auth_method in ("client_secret_basic", "client_secret_post"):
        secret = new_secret()
        client.secret_hash = digest(secret)
    cur = await conn.execute(
        "INSERT INTO auth_client (client_id, name, kind, auth_method, secret_hash, redirect_uris, scope, jwks, "
        "jwks_uri) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (client_id) DO NOTHING RETURNING 1",
        (client.client_id, client.name, client.kind, client.auth_method, client.secret_hash, client.redirect_uris,
         client.scope, Jsonb(client.jwks) if client.jwks is not None else None, client.jwks_uri))
    if await cur.fetchone() is None:
        raise InvalidClientMetadata(f"the client_id '{client.client_id}' is already registered")
    return secret


_COLUMNS = "client_id, name, kind, auth_method, scope, redirect_uris, secret_hash, jwks, jwks_uri"


def _client(row: tuple[Any, ...]) -> Client:
    jwks = orjson.loads(row[7]) if isinstance(row[7], bytes | str) else row[7]
    return Client(row[0], row[1], row[2], row[3], row[4], list(row[5] or []), row[6], jwks, row[8])


async def get(conn: Conn, client_id: str) -> Client | None:
    if "\x00" in client_id:
        return None
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM auth_client WHERE client_id = %s", (client_id,))
    row = await cur.fetchone()
    return _client(row) if row else None


async def all_clients(conn: Conn) -> list[Client]:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM auth_client ORDER BY created, client_id")
    return [_client(r) for r in await cur.fetchall()]
