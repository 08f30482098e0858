"""RFC 7517 JSON Web Keys and RFC 7515/7519 signing: the server's RS256 keys, kept in PostgreSQL.

One RSA key is made the first time any process needs it (under an advisory lock, so concurrent
processes agree on it) and shared by every server process through the ``auth_key`` table. The
newest key that is not retired signs; every key verifies; the JWKS endpoint publishes the public
halves.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from fhir_server.storage.repository import Conn

ALG = "RS256"
KEY_LOCK = 727_005  # pg_advisory_xact_lock key for making the first key
Json = dict[str, Any]


@dataclass(slots=True)
class KeyRing:
    """The server's keys by kid; ``signing`` names the one that signs."""

    private: dict[str, rsa.RSAPrivateKey]
    signing: str

    def sign(self, claims: Json, typ: str = "JWT") -> str:
        return jwt.encode(claims, self.private[self.signing], algorithm=ALG, headers={"kid": self.signing, "typ": typ})

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        key = self.private.get(kid)
        return key.public_key() if key is not None else None

    def jwks(self) -> Json:
        keys = []
        for kid, key in sorted(self.private.items()):
            jwk: Json = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "alg": ALG, "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}


def _new_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return secrets.token_urlsafe(12), pem


async def load(conn: Conn) -> KeyRing:
    """The key ring, making the first key if there is none yet."""
    rows = await _rows(conn)
    if not rows:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (KEY_LOCK,))
            cur = await conn.execute("SELECT 1 FROM auth_key LIMIT 1")
            if await cur.fetchone() is None:
                kid, pem = _new_key()
                await conn.execute("INSERT INTO auth_key (kid, alg, private_pem) VALUES (%s, %s, %s)", (kid, ALG, pem))
        rows = await _rows(conn)
    private: dict[str, rsa.RSAPrivateKey] = {}
    signing = ""
    for kid, pem, retired in rows:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        private[kid] = key
        if not retired:
            signing = kid
    return KeyRing(private, signing or rows[-1][0])


async def _rows(conn: Conn) -> list[tuple[str, str, bool]]:
    cur = await conn.execute("SELECT kid, private_pem, retired FROM auth_key ORDER BY created, kid")
    return [(r[0], r[1], r[2]) for r in await cur.fetchall()]
