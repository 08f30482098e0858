"""Encryption at rest (storage/crypto.py, fhir-server rotate-key): with FHIR_ENCRYPTION_KEY set, nothing of a
resource is readable in ``resource`` or ``resource_history`` while everything is through the API (read, vread,
history, search with _include, $everything, transactions, Bulk export); a sealed value moved onto another row
is refused; keys rotate online; a server without the right key refuses to start.

The servers run as ``fhir-server serve`` processes (the keys belong to a process), on real PostgreSQL.
"""

from __future__ import annotations

import base64
import contextlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from fhir_server.search.normalize import fold
from fhir_server.storage import crypto
from tests.conftest import Database
from tests.extensions.bulk.conftest import (
    Bulk,
    expected_resources,
    keys,
    load,
    patient_bundles,
    without_server_meta,
)
from tests.fixtures.serve import free_port
from tests.helpers import FHIR_JSON

Json = dict[str, Any]
CLI = [sys.executable, "-m", "fhir_server.cli"]
KEY_A, KEY_B = os.urandom(32), os.urandom(32)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def key_env(current: tuple[str, bytes] | None, *old: tuple[str, bytes]) -> dict[str, str]:
    env = {"FHIR_ENCRYPTION_KEY": "", "FHIR_ENCRYPTION_KEY_ID": "", "FHIR_ENCRYPTION_OLD_KEYS": ""}
    if current is not None:
        env.update(FHIR_ENCRYPTION_KEY=b64(current[1]), FHIR_ENCRYPTION_KEY_ID=current[0])
    if old:
        env["FHIR_ENCRYPTION_OLD_KEYS"] = ",".join(f"{k}:{b64(v)}" for k, v in old)
    return env


def _environ(db: Database, env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": db.url, "FHIR_AUTH_DISABLED": "1", "FHIR_AUDIT": "off",
            "FHIR_DB_POOL_MAX": "8", **env}


class Serve:
    """``fhir-server serve`` in its own process with these keys."""

    started: list[Serve] = []  # stopped at the end of each test, whatever happened (see _no_leftovers)

    def __init__(self, db: Database, env: dict[str, str], shared: bool = False) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="fhir-enc-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen([*CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=_environ(db, env), stdout=self.log, stderr=self.log)
        if not shared:
            Serve.started.append(self)
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                if httpx.get(self.base + "/metadata", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.time() < deadline, f"server did not start: {self.output()}"
            time.sleep(0.2)

    def output(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=120, headers={"Accept": "application/fhir+json"})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.log.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log.name)


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    """A failed assertion must not leave server processes behind (the module's shared one has its fixture)."""
    yield
    while Serve.started:
        Serve.started.pop().stop()


def refused(db: Database, env: dict[str, str]) -> str:
    """Start a server that must refuse to start; its error output."""
    proc = subprocess.run([*CLI, "serve", "--host", "127.0.0.1", "--port", str(free_port())],
                          env=_environ(db, env), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def rotate_key(db: Database, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "rotate-key", *args], env=_environ(db, env), capture_output=True, text=True,
                          timeout=300)


def by_key(db: Database, table: str) -> dict[str | None, int]:
    """Rows holding content, per key id (None: plain JSON)."""
    return dict(db.execute(f"SELECT key_id, count(*) FROM {table} WHERE content IS NOT NULL "
                           "OR content_enc IS NOT NULL GROUP BY key_id"))


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node


# ---- the module's server: three Synthea patients, stored with key k1 --------------------------------------

@pytest.fixture(scope="module")
def enc(pg_admin_url: str) -> Iterator[tuple[Serve, Database]]:
    db = Database(pg_admin_url)
    server = Serve(db, key_env(("k1", KEY_A)), shared=True)
    try:
        with server.client() as c:
            load(c, patient_bundles()[:3])
        yield server, db
    finally:
        server.stop()


@pytest.fixture(scope="module")
def expected() -> dict[tuple[str, str], Json]:
    return expected_resources(patient_bundles()[:3])


def test_nothing_of_a_resource_is_readable_in_the_tables(enc: tuple[Serve, Database],
                                                         expected: dict[tuple[str, str], Json]) -> None:
    _, db = enc
    for table in ("resource", "resource_history"):
        assert by_key(db, table) == {"k1": len(expected)}, table
        assert db.execute(f"SELECT count(*) FROM {table} WHERE content IS NOT NULL") == [(0,)]
    # every string of the input long enough not to turn up in random bytes by chance (ids, addresses, code
    # displays, narrative...) and the family names, looked for in the raw bytes of every sealed row
    patients = [r for r in expected.values() if r["resourceType"] == "Patient"]
    family = patients[0]["name"][0]["family"]
    values = {s for r in expected.values() for s in strings(r) if len(s) >= 8}
    values |= {p["name"][0]["family"] for p in patients}
    assert len(values) > 1000 and patients[0]["address"][0]["line"][0] in values
    blobs = [bytes(r[0]) for t in ("resource", "resource_history") for r in db.execute(f"SELECT content_enc FROM {t}")]
    dump = b"\n".join(blobs)
    assert [v for v in values if v.encode() in dump] == []
    # what the search index still shows, by design (docs/ARCHITECTURE.md "Encryption at rest")
    assert db.execute("SELECT count(*) FROM idx_string WHERE norm = %s", (fold(family),))[0][0] >= 1


def test_everything_is_readable_through_the_api(enc: tuple[Serve, Database],
                                                expected: dict[tuple[str, str], Json]) -> None:
    server, _ = enc
    with server.client() as c:
        for (res_type, res_id), resource in expected.items():
            read = c.get(f"/{res_type}/{res_id}")
            assert read.status_code == 200, read.text
            assert without_server_meta(read.json()) == resource
            vread = c.get(f"/{res_type}/{res_id}/_history/1")
            assert vread.status_code == 200 and without_server_meta(vread.json()) == resource
        patient = next(r for r in expected.values() if r["resourceType"] == "Patient")
        mine = {k: r for k, r in expected.items()
                if k[0] == "Observation" and r["subject"]["reference"] == f"Patient/{patient['id']}"}
        found = c.get("/Observation", params={"patient": patient["id"], "_count": "1000",
                                             "_include": "Observation:patient"}).json()
        matches = [e["resource"] for e in found["entry"] if e["search"]["mode"] == "match"]
        assert {("Observation", r["id"]): without_server_meta(r) for r in matches} == mine
        assert [without_server_meta(e["resource"]) for e in found["entry"] if e["search"]["mode"] == "include"] == [
            patient]
        family = patient["name"][0]["family"]
        by_name = c.get("/Patient", params={"family:exact": family}).json()
        assert [e["resource"]["id"] for e in by_name["entry"]] == [patient["id"]]
        code = next(iter(mine.values()))["code"]["coding"][0]
        coded = c.get("/Observation", params={"code": f"{code['system']}|{code['code']}", "_count": "1000"}).json()
        assert {e["resource"]["id"] for e in coded["entry"]} == {
            k[1] for k, r in expected.items() if k[0] == "Observation" and code in r["code"]["coding"]}
        everything = c.get(f"/Patient/{patient['id']}/$everything", params={"_count": "1000"}).json()
        got = {(e["resource"]["resourceType"], e["resource"]["id"]): e["resource"] for e in everything["entry"]}
        assert ("Patient", patient["id"]) in got and set(mine) <= set(got)
        assert all(without_server_meta(r) == expected[k] for k, r in got.items() if k in expected)


def test_history_and_transactions_stay_sealed_and_readable(enc: tuple[Serve, Database],
                                                           expected: dict[tuple[str, str], Json]) -> None:
    server, db = enc
    patient = [r for r in expected.values() if r["resourceType"] == "Patient"][1]
    changed = {**patient, "name": [{"family": "Vantablack-Okonkwo", "given": ["Ione"]}]}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": changed, "request": {"method": "PUT", "url": f"Patient/{patient['id']}"}},
        {"fullUrl": "urn:uuid:1d3c5c0e-6c54-4c3c-9c4c-5a1f0f7e0a11",
         "resource": {"resourceType": "Flag", "status": "active", "code": {"text": "Marmalade allergy warning"},
                      "subject": {"reference": f"Patient/{patient['id']}"}},
         "request": {"method": "POST", "url": "Flag"}}]}
    with server.client() as c:
        resp = c.post("/", content=orjson.dumps(bundle), headers=FHIR_JSON)
        assert resp.status_code == 200, resp.text
        history = c.get(f"/Patient/{patient['id']}/_history").json()
        assert [without_server_meta(e["resource"]) for e in history["entry"]] == [changed, patient]
        flags = c.get("/Flag", params={"patient": patient["id"], "_revinclude": "Provenance:target"}).json()
        assert [e["resource"]["code"]["text"] for e in flags["entry"]] == ["Marmalade allergy warning"]
        assert c.delete(f"/Flag/{flags['entry'][0]['resource']['id']}").status_code in (200, 204)
        system = c.get("/_history", params={"_count": "3"}).json()
        # newest first; a transaction runs its POSTs before its PUTs (R4 http.html#trules)
        assert [e["request"]["method"] for e in system["entry"]] == ["DELETE", "PUT", "POST"]
        assert without_server_meta(system["entry"][1]["resource"]) == changed
    rows = db.execute("SELECT content_enc FROM resource_history WHERE content_enc IS NOT NULL")
    dump = b"".join(bytes(r[0]) for r in rows)
    assert b"Vantablack" not in dump and b"Marmalade" not in dump
    assert db.execute("SELECT count(*) FROM resource_history WHERE content IS NOT NULL") == [(0,)]


def test_bulk_export_opens_the_sealed_rows(enc: tuple[Serve, Database], expected: dict[tuple[str, str], Json]) -> None:
    server, _ = enc
    with server.client() as c:
        manifest, found = Bulk(c).export("/$export", params={"_type": "Patient,Observation,Condition"})
    wanted = {k: r for k, r in expected.items() if k[0] in ("Observation", "Condition")}
    got = {k: without_server_meta(r) for k, r in zip(keys(found), found, strict=True)}
    assert {k: r for k, r in got.items() if k[0] != "Patient"} == wanted
    assert len([k for k in got if k[0] == "Patient"]) == 3
    assert manifest["output"]


def test_bulk_files_and_import_input_are_sealed(enc: tuple[Serve, Database]) -> None:
    server, db = enc
    bundle = patient_bundles()[3]
    resources = [r for r in expected_resources([bundle]).values()]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    bad = b'{"resourceType": "Patient", "gender": "Quetzalcoatl-gender"}'
    body = b"\n".join([*(orjson.dumps(r) for r in resources), bad]) + b"\n"
    family = patient["name"][0]["family"].encode()
    idle = Serve(db, {**key_env(("k1", KEY_A)), "FHIR_BULK_JOBS": "0"})  # takes the upload, runs no job
    try:
        with idle.client() as c:
            resp = c.post("/$import", content=body, headers={"Content-Type": "application/fhir+ndjson",
                                                             "Prefer": "respond-async"})
            assert resp.status_code == 202, resp.text
            url = resp.headers["content-location"]
            job = url.rsplit("/", 1)[1]
            chunks = [bytes(r[0]) for r in db.execute("SELECT data FROM bulk_input WHERE job_id = %s", (job,))]
            assert chunks and all(ch.startswith(b"ENC:k1:") for ch in chunks)
            assert not any(family in ch or b"Quetzalcoatl" in ch for ch in chunks)
            manifest = Bulk(c).manifest(url)  # run by the other server process
            errors = [o for e in manifest["error"] for o in Bulk(c).lines(e["url"])]
    finally:
        idle.stop()
    assert len(errors) == 1 and f"line {len(resources) + 1}" in errors[0]["issue"][0]["diagnostics"]
    parts = [r[0] for r in db.execute("SELECT data FROM bulk_part WHERE job_id = %s AND kind = 'error'", (job,))]
    assert parts and all(p.startswith("ENC:k1:") for p in parts)
    with server.client() as c:
        assert without_server_meta(c.get(f"/Patient/{patient['id']}").json()) == patient
        _, found = Bulk(c).export("/$export", params={"_type": "Patient"})
        assert patient["id"] in {r["id"] for r in found}
    outputs = [r[0] for r in db.execute("SELECT data FROM bulk_part WHERE kind = 'output' AND res_type = 'Patient'")]
    assert outputs and all(p.startswith("ENC:k1:") and family.decode() not in p for p in outputs)


def test_a_sealed_value_moved_onto_another_row_does_not_open(enc: tuple[Serve, Database]) -> None:
    server, db = enc
    with server.client() as c:
        ids = []
        for name in ("Moved-From", "Moved-Onto"):
            resp = c.post("/Basic", json={"resourceType": "Basic", "code": {"text": name}}, headers=FHIR_JSON)
            assert resp.status_code == 201
            ids.append(resp.json()["id"])
        db.execute("UPDATE resource SET content_enc = (SELECT content_enc FROM resource WHERE res_type = 'Basic' "
                   "AND id = %s) WHERE res_type = 'Basic' AND id = %s", (ids[0], ids[1]))
        resp = c.get(f"/Basic/{ids[1]}")
        assert resp.status_code == 500
        assert resp.json()["issue"][0]["diagnostics"] == (
            f"the stored content of Basic/{ids[1]} (version 1) does not open: its sealed content was altered or "
            "belongs to another row")
        assert c.get(f"/Basic/{ids[0]}").json()["code"]["text"] == "Moved-From"
        assert c.get(f"/Basic/{ids[1]}/_history/1").json()["code"]["text"] == "Moved-Onto"  # history untouched
        db.execute("UPDATE resource SET content_enc = set_byte(content_enc, 20, get_byte(content_enc, 20) # 1) "
                   "WHERE res_type = 'Basic' AND id = %s", (ids[0],))
        assert c.get(f"/Basic/{ids[0]}").status_code == 500
        search = c.get("/Basic", params={"_id": ids[0]})
        assert search.status_code == 500 and "does not open" in search.text


# ---- keys over time: plain → k1 → rotated online to k2 → back to plain ---------------------------------------

def _writes(c: httpx.Client, tag: str, n: int) -> dict[str, Json]:
    out = {}
    for i in range(n):
        body = {"resourceType": "Observation", "status": "final", "code": {"text": f"{tag} reading {i}"},
                "valueQuantity": {"value": i + 0.5, "unit": "mg"}}
        resp = c.post("/Observation", content=orjson.dumps(body), headers=FHIR_JSON)
        assert resp.status_code == 201, resp.text
        out[resp.json()["id"]] = body
    return out


def _all_readable(server: Serve, written: dict[str, list[Json]]) -> None:
    """Every version of every resource, through the API, is what was written."""
    with server.client() as c:
        for res_id, versions in written.items():
            history = c.get(f"/Observation/{res_id}/_history", params={"_count": "1000"}).json()
            got = [{k: v for k, v in e["resource"].items() if k not in ("id", "meta")} for e in history["entry"]]
            assert got == list(reversed(versions)), res_id
        assert c.get("/Observation", params={"code:text": "plain reading 1", "_total": "accurate"}).json()["total"] == 1


def test_keys_over_time(pg_admin_url: str) -> None:
    db = Database(pg_admin_url)
    written: dict[str, list[Json]] = {}

    # plain JSON first: encryption switched on later, with data already there
    server = Serve(db, key_env(None))
    with server.client() as c:
        written.update({k: [v] for k, v in _writes(c, "plain", 5).items()})
    server.stop()
    assert by_key(db, "resource") == {None: 5}

    server = Serve(db, key_env(("k1", KEY_A)))
    with server.client() as c:
        written.update({k: [v] for k, v in _writes(c, "first", 5).items()})
        manifest, exported = Bulk(c).export("/$export", params={"_type": "Observation"})
        assert len(exported) == 10
        old_file = httpx.URL(manifest["output"][0]["url"]).path  # sealed with k1; rotate-key leaves Bulk files
    _all_readable(server, written)  # plain and sealed rows side by side
    server.stop()
    assert by_key(db, "resource") == {None: 5, "k1": 5}

    # a server without the key, or with a wrong one, does not start (and says why)
    assert "encrypted with key 'k1', and no FHIR_ENCRYPTION_KEY is set" in refused(db, key_env(None))
    assert "encrypted with key 'k1', which this server was not given" in refused(db, key_env(("k2", KEY_B)))
    assert "The key given for id 'k1' does not open" in refused(db, key_env(("k1", KEY_B)))

    # rotation to k2, online: a server (k2 current, k1 old) keeps updating while rotate-key runs
    env = key_env(("k2", KEY_B), ("k1", KEY_A))
    server = Serve(db, env)
    stop = threading.Event()
    errors: list[str] = []

    def writer() -> None:
        with server.client() as c:
            n = 0
            while not stop.is_set():
                for res_id, versions in written.items():
                    body = {**versions[-1], "note": [{"text": f"update {n}"}]}
                    resp = c.put(f"/Observation/{res_id}", content=orjson.dumps({**body, "id": res_id}),
                                 headers=FHIR_JSON)
                    if resp.status_code != 200:
                        errors.append(resp.text)
                    versions.append(body)
                    n += 1
                    time.sleep(0.02)
                    if stop.is_set():
                        break

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.5)
        before = sum(len(v) for v in written.values())
        done = rotate_key(db, env, "--batch", "3")
        during = sum(len(v) for v in written.values()) - before
    finally:
        stop.set()
        thread.join()
    assert done.returncode == 0, done.stdout + done.stderr
    assert errors == [] and during > 10  # the server kept writing while rotate-key ran
    # the versions before the restart; the current rows were mostly updated by the server (k2) already
    assert done.stdout.splitlines()[1] == (
        "resource_history: 10 versions now sealed with key 'k2' (5 under k1, 5 in plain JSON)"), done.stdout
    for table in ("resource", "resource_history"):
        assert set(by_key(db, table)) == {"k2"}, table
    server.stop()

    # k1 retired: everything still readable
    assert rotate_key(db, key_env(("k2", KEY_B)), "--check").stdout.splitlines()[0].endswith(" under k2")
    server = Serve(db, key_env(("k2", KEY_B)))
    _all_readable(server, written)
    with server.client() as c:  # a Bulk file made under k1 needs k1 until it expires: said before any byte is sent
        resp = c.get(old_file, headers={"Accept": "application/fhir+ndjson"})
        assert resp.status_code == 500 and "sealed with key 'k1'" in resp.json()["issue"][0]["diagnostics"]

    # a row a writer holds is retried, then reported as left (exit 1); once free, a second run finishes
    with psycopg.connect(db.url) as conn:
        victim = next(iter(written))
        conn.execute("SELECT 1 FROM resource WHERE res_type = 'Observation' AND id = %s FOR UPDATE", (victim,))
        off = key_env(None, ("k2", KEY_B))
        held = rotate_key(db, off)
        assert held.returncode == 1, held.stdout + held.stderr
        assert "1 versions are not in plain JSON (no FHIR_ENCRYPTION_KEY) yet" in held.stderr
    server.stop()

    # encryption off: back to plain JSONB (the lock is gone), readable by a server with no key at all
    assert rotate_key(db, off).returncode == 0
    for table in ("resource", "resource_history"):
        assert set(by_key(db, table)) == {None}, table
    server = Serve(db, key_env(None))
    _all_readable(server, written)
    server.stop()


# ---- the keys themselves ------------------------------------------------------------------------------------

def test_key_settings() -> None:
    env = key_env(("k2", KEY_B), ("k1", KEY_A))
    keys_ = crypto.Keys.from_env(env)
    assert keys_ is not None and keys_.current_id == "k2" and keys_.ids == {"k1", "k2"}
    assert b64(KEY_A) not in repr(keys_) and b64(KEY_B) not in repr(keys_)
    again = pickle.loads(pickle.dumps(keys_))  # settings go to spawned import workers
    sealed = keys_.seal(b'{"a": 1}', "Basic/x/1")
    assert again.open("k2", sealed, "Basic/x/1") == b'{"a": 1}'
    assert crypto.Keys.from_env(key_env(None)) is None
    only_old = crypto.Keys.from_env(key_env(None, ("k1", KEY_A)))
    assert only_old is not None and not only_old.sealing
    bad = {
        "FHIR_ENCRYPTION_KEY": ("not base64!", "is not base64"),
        "FHIR_ENCRYPTION_OLD_KEYS": ("k1=" + b64(KEY_A), "must be a list of id:base64key"),
        "FHIR_ENCRYPTION_KEY_ID": ("k:1", "is not a key id"),
    }
    for name, (value, message) in bad.items():
        with pytest.raises(crypto.EncryptionError, match=message):
            crypto.Keys.from_env({**key_env(("k1", KEY_A)), name: value})
    with pytest.raises(crypto.EncryptionError, match="must be 32 bytes"):
        crypto.Keys.from_env({"FHIR_ENCRYPTION_KEY": b64(os.urandom(16))})


def test_sealed_tokens_open_only_on_their_row() -> None:
    keys_ = crypto.Keys("k1", {"k1": KEY_A})
    sealed = keys_.seal(b'{"resourceType":"Basic"}', "Basic/one/1")
    token = crypto.PREFIX + "k1:Basic/one/1:" + base64.encodebytes(sealed).decode()  # with newlines, as PostgreSQL
    previous = crypto.active()
    crypto.configure(keys_)
    try:
        assert crypto.content_bytes(token) == b'{"resourceType":"Basic"}'
        assert crypto.content_bytes('{"plain": true}') == b'{"plain": true}'
        with pytest.raises(crypto.EncryptionError, match="Basic/two \\(version 1\\) does not open"):
            crypto.content_bytes(token.replace("Basic/one/1", "Basic/two/1"))
        with pytest.raises(crypto.EncryptionError, match="sealed with key 'k9'"):
            crypto.content_bytes(token.replace("k1:", "k9:", 1))
        crypto.configure(None)
        with pytest.raises(crypto.EncryptionError, match="no FHIR_ENCRYPTION_KEY"):
            crypto.content_bytes(token)
    finally:
        crypto.configure(previous)
