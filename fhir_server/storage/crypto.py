"""Encryption at rest: every stored resource version sealed with AES-256-GCM, a key id per row.

With ``FHIR_ENCRYPTION_KEY`` set (32 bytes, base64), the JSON of every version written to
``resource`` and ``resource_history`` is sealed: a random 96-bit nonce per row, the row's identity
(``Type/id/version``) as associated data, so a sealed value copied onto another row, or altered,
fails to open instead of being served. ``content`` stays NULL; ``content_enc`` holds
``nonce || ciphertext || tag`` and ``key_id`` the id of the key (``FHIR_ENCRYPTION_KEY_ID``, default
``k1``). Keys given in ``FHIR_ENCRYPTION_OLD_KEYS`` (``id:base64,…``) are used to read only, until
``fhir-server rotate-key`` has re-sealed every row with the current key. With only old keys listed
(no ``FHIR_ENCRYPTION_KEY``), sealed rows are read and new versions are written in plain JSON, and
``rotate-key`` turns the sealed rows back into plain JSON: the way to switch encryption off.

Sealed content travels through SQL as text (``content_sql``), ``ENC:<key id>:<Type/id/version>:<base64>``,
built by PostgreSQL from the row's own columns, so every reader needs only ``content_bytes()`` on what
the query returned to get the JSON back. The keys belong to the process (``configure``): one key set
per server process, read from its environment.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from collections.abc import Mapping
from typing import Any, overload

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fhir_server.errors import FhirError

log = logging.getLogger(__name__)
PREFIX = "ENC:"
_PREFIX_BYTES = PREFIX.encode()
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class EncryptionError(FhirError):
    """A key setting is wrong, or stored content cannot be opened with the keys this process has."""

    status, code = 500, "exception"


def _decode_key(text: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EncryptionError(f"{name} is not base64 (make one with: openssl rand -base64 32)") from exc
    if len(raw) != 32:
        raise EncryptionError(f"{name} must be 32 bytes (AES-256) in base64, not {len(raw)} bytes")
    return raw


def _check_id(key_id: str, name: str) -> str:
    if not _KEY_ID.fullmatch(key_id):
        raise EncryptionError(f"{name} '{key_id}' is not a key id (1-64 of A-Z a-z 0-9 . _ -)")
    return key_id


class Keys:
    """The keys of this process: the current one seals, every one (current and old) opens.

    ``current_id`` None: no key seals (new versions are stored in plain JSON), the old ones still open.
    """

    __slots__ = ("_aead", "_secrets", "current_id")

    def __init__(self, current_id: str | None, secrets: Mapping[str, bytes]) -> None:
        if current_id is not None and current_id not in secrets:
            raise EncryptionError(f"no key given for the current key id '{current_id}'")
        for key_id, secret in secrets.items():
            _check_id(key_id, "key id")
            if len(secret) != 32:
                raise EncryptionError(f"key '{key_id}' must be 32 bytes (AES-256), not {len(secret)}")
        if not secrets:
            raise EncryptionError("no encryption key given")
        self.current_id = current_id
        self._secrets = dict(secrets)
        self._aead = {key_id: AESGCM(secret) for key_id, secret in secrets.items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keys | None:
        """``FHIR_ENCRYPTION_KEY`` (+ ``FHIR_ENCRYPTION_KEY_ID``) and ``FHIR_ENCRYPTION_OLD_KEYS``; None if neither."""
        env = os.environ if environ is None else environ
        current = (env.get("FHIR_ENCRYPTION_KEY") or "").strip()
        old = (env.get("FHIR_ENCRYPTION_OLD_KEYS") or "").strip()
        if not current and not old:
            return None
        secrets: dict[str, bytes] = {}
        current_id = None
        if current:
            current_id = _check_id((env.get("FHIR_ENCRYPTION_KEY_ID") or "k1").strip(), "FHIR_ENCRYPTION_KEY_ID")
            secrets[current_id] = _decode_key(current, "FHIR_ENCRYPTION_KEY")
        for item in old.split(","):
            if not item.strip():
                continue
            key_id, colon, text = item.strip().partition(":")
            if not colon:
                raise EncryptionError("FHIR_ENCRYPTION_OLD_KEYS must be a list of id:base64key, separated by commas")
            key_id = _check_id(key_id.strip(), "FHIR_ENCRYPTION_OLD_KEYS id")
            secret = _decode_key(text, f"old key '{key_id}'")
            if key_id in secrets and secrets[key_id] != secret:
                raise EncryptionError(f"key id '{key_id}' is given twice with different keys")
            secrets[key_id] = secret
        return cls(current_id, secrets)

    def __repr__(self) -> str:  # never the key material
        return f"Keys(current={self.current_id!r}, ids={sorted(self._secrets)!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # settings travel to spawned worker processes
        return (Keys, (self.current_id, dict(self._secrets)))

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._secrets)

    @property
    def sealing(self) -> bool:
        return self.current_id is not None

    def seal(self, plaintext: bytes, identity: str) -> bytes:
        """``nonce || ciphertext || tag`` of ``plaintext`` under the current key, bound to ``identity``."""
        assert self.current_id is not None, "no current key: nothing is sealed"
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead[self.current_id].encrypt(nonce, plaintext, identity.encode())

    def open(self, key_id: str, sealed: bytes, identity: str) -> bytes:
        aead = self._aead.get(key_id)
        if aead is None:
            raise EncryptionError(f"{_what(identity)} is sealed with key '{key_id}', which this server was not "
                                  "given (FHIR_ENCRYPTION_KEY / FHIR_ENCRYPTION_OLD_KEYS)")
        try:
            return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], identity.encode())
        except InvalidTag as exc:
            raise EncryptionError(f"{_what(identity)} does not open: its sealed content was altered or "
                                  "belongs to another row") from exc


def _what(identity: str) -> str:
    if identity.count("/") != 2 or not identity[:1].isupper():  # not a resource version (a Bulk Data part...)
        return f"the stored {identity}"
    res_type, res_id, version = identity.split("/")
    return f"the stored content of {res_type}/{res_id} (version {version})"


_keys: Keys | None = None


def configure(keys: Keys | None) -> None:
    """Use these keys in this process (``open_server`` does it from the settings)."""
    global _keys
    _keys = keys


def active() -> Keys | None:
    return _keys


def content_sql(t: str) -> str:
    """The stored JSON of the row of ``resource``/``resource_history`` aliased ``t``, as text.

    Plain rows: the JSONB with ``resourceType`` moved first (JSONB keeps keys sorted by length).
    Sealed rows: the ``ENC:`` token, which ``content_bytes`` opens. A deleted row: NULL.
    """
    plain = (f"'{{\"resourceType\":' || to_json({t}.res_type)::text || ',' || "
             f"substr(({t}.content - 'resourceType')::text, 2)")
    return (f"CASE WHEN {t}.content_enc IS NULL THEN {plain} ELSE '{PREFIX}' || {t}.key_id || ':' || {t}.res_type "
            f"|| '/' || {t}.id || '/' || {t}.version || ':' || encode({t}.content_enc, 'base64') END")


@overload
def content_bytes(value: str | bytes) -> bytes: ...
@overload
def content_bytes(value: None) -> None: ...
def content_bytes(value: str | bytes | None) -> bytes | None:
    """The JSON of a stored row as SQL returned it through ``content_sql`` (sealed or not); None stays None."""
    if value is None:
        return None
    raw = value.encode() if isinstance(value, str) else bytes(value)
    if not raw.startswith(_PREFIX_BYTES):
        return raw
    return _open_token(raw)


def seal_blob(data: bytes, identity: str) -> bytes:
    """Other stored copies of resource content (Bulk Data files and inputs): sealed into the ``ENC:`` form
    when this process has a current key, else as they are. ``open_blob`` with the same identity opens them."""
    keys = _keys
    if keys is None or keys.current_id is None:
        return data
    return f"{PREFIX}{keys.current_id}:{identity}:".encode() + base64.b64encode(keys.seal(data, identity))


def open_blob(value: str | bytes, identity: str) -> bytes:
    """What ``seal_blob`` stored under ``identity`` (the row it is read from: a value moved elsewhere fails)."""
    raw = value.encode() if isinstance(value, str) else bytes(value)
    if not raw.startswith(_PREFIX_BYTES):
        return raw
    key_id, _, rest = raw[len(_PREFIX_BYTES):].partition(b":")
    return _open(key_id.decode(errors="replace"), rest.partition(b":")[2], identity)


def _open_token(raw: bytes) -> bytes:
    key_id, _, rest = raw[len(_PREFIX_BYTES):].partition(b":")
    identity, _, b64 = rest.partition(b":")
    return _open(key_id.decode(errors="replace"), b64, identity.decode(errors="replace"))


def _open(key_id: str, b64: bytes, identity: str) -> bytes:
    try:
        sealed = base64.b64decode(b64)  # PostgreSQL breaks base64 into lines: the newlines are skipped
        if _keys is None:
            raise EncryptionError(f"{_what(identity)} is encrypted and this server has no FHIR_ENCRYPTION_KEY")
        return _keys.open(key_id, sealed, identity)
    except binascii.Error as exc:
        log.error("%s is neither JSON nor a sealed value", identity)
        raise EncryptionError(f"{_what(identity)} is neither JSON nor a sealed value") from exc
    except EncryptionError as exc:  # a key missing here, or a row altered: the operators must hear of it
        log.error("%s", exc.diagnostics)
        raise


# The key ids the rows of a table were sealed with: a skip scan of its partial key index (a few probes).
_IN_USE = ("WITH RECURSIVE k AS (SELECT min(key_id) AS id FROM {t} WHERE key_id IS NOT NULL "
           "UNION ALL SELECT (SELECT min(key_id) FROM {t} WHERE key_id > k.id) FROM k WHERE k.id IS NOT NULL) "
           "SELECT id FROM k WHERE id IS NOT NULL")
TABLES = ("resource", "resource_history")


def keys_in_use(conn: Any) -> dict[str, set[str]]:
    """Table → the key ids its rows were sealed with (``conn``: a synchronous psycopg connection)."""
    return {t: {r[0] for r in conn.execute(_IN_USE.format(t=t)).fetchall()} for t in TABLES}


def check_database(conn: Any, keys: Keys | None) -> None:
    """Refuse to start unless ``keys`` open what the database holds: every key id in use is given, and
    each given key opens a row sealed under its id (a wrong key for an id is caught here, not per read)."""
    used = keys_in_use(conn)
    every = set().union(*used.values())
    missing = sorted(every - (keys.ids if keys is not None else set()))
    if missing:
        names = ", ".join(f"'{k}'" for k in missing)
        if keys is None:
            raise EncryptionError(
                f"This database holds resources encrypted with key {names}, and no FHIR_ENCRYPTION_KEY is set. "
                "Start with FHIR_ENCRYPTION_KEY (and FHIR_ENCRYPTION_KEY_ID) set to that key, or list it in "
                "FHIR_ENCRYPTION_OLD_KEYS as id:base64key.")
        raise EncryptionError(
            f"This database holds resources encrypted with key {names}, which this server was not given: "
            "list it in FHIR_ENCRYPTION_OLD_KEYS (id:base64key) until `fhir-server rotate-key` has re-encrypted them.")
    assert keys is not None or not every
    for table, ids in used.items():
        for key_id in sorted(ids):
            row = conn.execute(f"SELECT res_type, id, version, content_enc FROM {table} WHERE key_id = %s LIMIT 1",
                               (key_id,)).fetchone()
            if row is None:  # rotated away since the first look
                continue
            assert keys is not None
            try:
                keys.open(key_id, bytes(row[3]), f"{row[0]}/{row[1]}/{row[2]}")
            except EncryptionError as exc:
                raise EncryptionError(
                    f"The key given for id '{key_id}' does not open {row[0]}/{row[1]} (version {row[2]}), which was "
                    f"sealed under that id: it is not the key that encrypted this database (or that row was "
                    "altered).") from exc
