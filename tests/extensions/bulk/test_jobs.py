"""Bulk Data jobs across server processes (Bulk Data IG 2.0 export.html: transactionTime, _since, deleted): an
export holds the data as of its transactionTime whatever changes after the kick-off; a job started on one
process is run by another; a process killed mid-export or mid-import leaves a job that a second process
resumes, without losing or repeating a line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.conftest import Database, LiveServer
from tests.extensions.bulk.conftest import (
    SERVER_MADE,
    Bulk,
    expected_resources,
    keys,
    load,
    patient_bundles,
    stored_form,
    without_server_meta,
)
from tests.fixtures.serve import free_port
from tests.helpers import FHIR_JSON

Json = dict[str, Any]


def test_export_holds_the_data_as_of_its_transaction_time(pg_admin_url: str) -> None:
    db = Database(pg_admin_url)
    bundle = patient_bundles()[0]
    stored = stored_form(bundle)
    patient = next(r for r in stored if r["resourceType"] == "Patient")
    immunizations = [r for r in stored if r["resourceType"] == "Immunization"]
    api = LiveServer(db, bulk_jobs=0).start()  # answers requests, runs no jobs
    try:
        with api.client() as c:
            load(c, [bundle])
            bulk = Bulk(c)
            url = bulk.kick_off("/$export", params={"_type": "Patient,Immunization"})
            time.sleep(0.05)
            changed = {**patient, "name": [{"family": "Changed-After-Kickoff"}]}
            assert c.put(f"/Patient/{patient['id']}", json=changed, headers=FHIR_JSON).status_code == 200
            assert c.delete(f"/Immunization/{immunizations[0]['id']}").status_code in (200, 204)
            added = {**immunizations[1], "id": "added-after-kickoff"}
            assert c.put("/Immunization/added-after-kickoff", json=added, headers=FHIR_JSON).status_code == 201
            resp = c.get(url, headers=bulk.headers)
            assert (resp.status_code, resp.headers["x-progress"]) == (202, "queued")  # nobody runs it yet

            worker = LiveServer(db).start()  # another server process on the same database runs the job
            try:
                manifest = bulk.manifest(url)  # ... and this one answers for it
                found = bulk.outputs(manifest)
            finally:
                worker.stop()
            by_key = {(r["resourceType"], r["id"]): without_server_meta(r) for r in found}
            # the Patient as it was, the deleted Immunization (it existed then), not the one added since
            assert by_key == {k: r for k, r in expected_resources([bundle]).items()
                              if k[0] in ("Patient", "Immunization")}

            api_worker = LiveServer(db).start()
            try:
                later = bulk.manifest(bulk.kick_off("/$export", params={"_type": "Patient,Immunization",
                                                                        "_since": manifest["transactionTime"]}))
                since = bulk.outputs(later)
                deleted = [line for e in later["deleted"] for line in bulk.lines(e["url"])]
            finally:
                api_worker.stop()
            assert sorted(keys(since)) == [("Immunization", "added-after-kickoff"), ("Patient", patient["id"])]
            assert next(r for r in since if r["resourceType"] == "Patient")["name"] == changed["name"]
            assert [e["type"] for e in later["deleted"]] == ["Bundle"]
            assert deleted == [{"resourceType": "Bundle", "type": "transaction", "entry": [
                {"request": {"method": "DELETE", "url": f"Immunization/{immunizations[0]['id']}"}}]}]
    finally:
        api.stop()


class ServerProcess:
    """``fhir-server serve`` in its own OS process (killed with SIGKILL to simulate a crash)."""

    def __init__(self, database_url: str, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="fhir-bulk-", suffix=".log", delete=False)  # noqa: SIM115
        environ = {**os.environ, "DATABASE_URL": database_url, "FHIR_AUTH_DISABLED": "1", "FHIR_DB_POOL_MAX": "8",
                   **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "fhir_server.cli", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port)], env=environ, stdout=self.log, stderr=self.log)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server process exited; see {self.log.name}")
            try:
                if httpx.get(self.base + "/metadata", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server process did not start; see {self.log.name}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


def _exported(progress: str) -> int:
    m = re.match(r"([\d,]+) resources exported", progress)
    return int(m.group(1).replace(",", "")) if m else 0


def test_a_second_process_resumes_an_export_after_the_first_is_killed(pg_admin_url: str) -> None:
    db = Database(pg_admin_url)
    bundles = patient_bundles()[:6]
    first = ServerProcess(db.url, FHIR_BULK_CHUNK_ROWS="40", FHIR_BULK_PAUSE="0.1", FHIR_BULK_LEASE="3")
    try:
        with httpx.Client(base_url=first.base, timeout=120) as c:
            load(c, bundles)
            bulk = Bulk(c)
            url = bulk.kick_off("/$export")
            job_id = url.rsplit("/", 1)[1]
            deadline = time.time() + 120
            while True:
                resp = c.get(url, headers=bulk.headers)
                assert resp.status_code == 202, "the export ended before the crash: " + resp.text[:200]
                if _exported(resp.headers["x-progress"]) >= 200:
                    break
                assert time.time() < deadline
                time.sleep(0.05)
    finally:
        first.kill()  # mid-export, without any chance to clean up
    before = db.execute("SELECT made_by, count(*) FROM bulk_part WHERE job_id = %s GROUP BY made_by", (job_id,))
    assert len(before) == 1 and before[0][1] >= 5

    second = LiveServer(db, bulk_lease=3.0).start()
    try:
        with second.client() as c:
            bulk = Bulk(c)
            manifest = bulk.manifest(second.base + "/bulk/" + job_id)
            found = [r for r in bulk.outputs(manifest) if r["resourceType"] not in SERVER_MADE]
    finally:
        second.stop()
    assert len(keys(found)) == len(set(keys(found))), "a resource exported twice"
    expected = expected_resources(bundles)
    assert sorted(keys(found)) == sorted(expected)
    assert all(without_server_meta(r) == expected[(r["resourceType"], r["id"])] for r in found)
    after = dict(db.execute("SELECT made_by, count(*) FROM bulk_part WHERE job_id = %s GROUP BY made_by",
                            (job_id,)))
    assert after[before[0][0]] == before[0][1], "the parts the killed process committed were kept"
    assert len(after) == 2, "the second process wrote the rest"
    assert db.execute("SELECT runs, status FROM bulk_job WHERE id = %s", (job_id,)) == [(2, "done")]


def _children(pid: int) -> list[int]:
    """The import worker processes (multiprocessing spawn) of a process."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(proc.name))
    return found


def _written(progress: str) -> tuple[int, int]:
    m = re.match(r"(\d+) of (\d+) chunks written", progress)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def test_a_second_process_resumes_an_import_after_the_first_is_killed(pg_admin_url: str) -> None:
    db = Database(pg_admin_url)
    bundles = patient_bundles()[30:40]
    lines = [orjson.dumps(r) for b in bundles for r in stored_form(b)]
    first = ServerProcess(db.url, FHIR_BULK_WORKERS="1", FHIR_BULK_LEASE="3")
    try:
        with httpx.Client(base_url=first.base, timeout=120) as c:
            resp = c.post("/$import", content=b"\n".join(lines), headers={
                "Content-Type": "application/fhir+ndjson", "Prefer": "respond-async"})
            assert resp.status_code == 202, resp.text
            url = resp.headers["content-location"]
            job_id = url.rsplit("/", 1)[1]
            deadline = time.time() + 180
            while True:
                resp = c.get(url)
                assert resp.status_code == 202, "the import ended before the crash: " + resp.text[:200]
                done, total = _written(resp.headers["x-progress"])
                if done >= 1:
                    assert done < total
                    break
                assert time.time() < deadline
                time.sleep(0.05)
        workers = _children(first.proc.pid)
        assert workers, "the import runs in a worker process"
    finally:
        first.kill()
    deadline = time.time() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in workers):  # orphaned workers end themselves
        assert time.time() < deadline, "a worker of the killed process is still running"
        time.sleep(0.2)
    second = LiveServer(db, bulk_lease=3.0, bulk_workers=1).start()
    try:
        with second.client() as c:
            manifest = Bulk(c).manifest(f"{second.base}/bulk/{job_id}")
    finally:
        second.stop()
    assert manifest["error"] == []
    assert manifest["extension"]["urn:fhir-server:bulk:imported"] == len(lines)
    expected = expected_resources(bundles)
    rows = [r for r in db.execute("SELECT res_type, id, version FROM resource") if r[0] not in SERVER_MADE]
    assert {(t, i) for t, i, _ in rows} == set(expected)
    repeated = Counter((r["resourceType"], r["id"]) for b in bundles for r in stored_form(b))
    assert all(v == repeated[(t, i)] for t, i, v in rows), "a chunk was written twice"
    assert db.execute("SELECT runs FROM bulk_job WHERE id = %s", (job_id,)) == [(2,)]
