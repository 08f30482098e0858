"""``fhir-server import legacy DATABASE_URL``: the seed platform's patients/appointments tables → Patient,
Condition, Appointment; a bad row is reported by id and the others still import; a re-import
updates instead of duplicating."""

from __future__ import annotations

import json

import httpx
import pytest

from fhir_server import cli
from mappers import legacy
from tests.conftest import Database, LiveServer
from tests.extensions.scheduling.clinic import read

SCHEMA = """
CREATE TABLE patients (id integer PRIMARY KEY, name text, date_of_birth date, medical_history jsonb);
CREATE TABLE appointments (id integer PRIMARY KEY, patient_id integer, provider_id integer,
                           appointment_time timestamp, status text);
"""
PATIENTS = [
    (1, "Ada Lovelace", "1815-12-10", [{"condition": "Hypertension", "icd10": "I10", "onset": "2019-04"},
                                       {"name": "Asthma", "resolved": True}]),
    (2, "Grace Hopper", "1906-12-09", {"conditions": ["Seasonal allergies"]}),
    (3, "   ", "1950-01-01", None),  # no name: reported
    (4, "Alan Turing", "1912-06-23", [{"condition": "Flu", "onset": "last winter"}]),  # bad onset: reported whole
    (5, "Edsger Dijkstra", None, None),
]
APPOINTMENTS = [
    (10, 1, 77, "2026-05-01 09:00:00", "scheduled"),
    (11, 2, 77, "2026-05-02 10:30:00", "completed"),
    (12, 1, 78, "2026-05-03 11:00:00", "no_show"),
    (13, 4, 77, "2026-05-04 09:00:00", "scheduled"),  # its patient failed: reported
    (14, 5, 77, "2026-05-05 09:00:00", "teleported"),  # unknown status: reported
    (15, 2, None, None, "cancelled"),  # no time: reported
]


@pytest.fixture(scope="module")
def source(pg_admin_url: str) -> Database:
    db = Database(pg_admin_url)
    db.execute(SCHEMA)
    for pid, name, dob, history in PATIENTS:
        db.execute("INSERT INTO patients VALUES (%s, %s, %s, %s)",
                   (pid, name, dob, json.dumps(history) if history is not None else None))
    for row in APPOINTMENTS:
        db.execute("INSERT INTO appointments VALUES (%s, %s, %s, %s, %s)", row)
    return db


def run(live: LiveServer, source: Database, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["import", "legacy", source.url, "--database-url", str(live.settings.database_url)])
    return code, capsys.readouterr().out


def test_legacy_import(sched: LiveServer, c: httpx.Client, source: Database,
                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(sched, source, capsys)
    assert code == 1  # some records failed
    assert "patients: created 6, updated 0, unchanged 0, failed 2" in out  # 3 patients + 3 conditions
    assert "FAILED patients.id=3: name is empty" in out
    assert "FAILED patients.id=4 medical_history[0]: onset 'last winter' is not a date" in out
    assert "appointments: created 3, updated 0, unchanged 0, failed 3" in out
    assert "FAILED appointments.id=13: its patient (patients.id=4) was not imported" in out
    assert "FAILED appointments.id=14: status 'teleported'" in out
    assert "FAILED appointments.id=15: appointment_time is missing" in out
    ada = read(c, f"Patient/{legacy.patient_id(1)}")
    assert ada["name"][0]["family"] == "Lovelace" and ada["birthDate"] == "1815-12-10"
    assert ada["identifier"] == [{"system": legacy.PATIENT, "value": "1"}]
    assert not c.get(f"/Patient/{legacy.patient_id(4)}").is_success  # nothing half-written
    conditions = c.get("/Condition", params={"subject": f"Patient/{legacy.patient_id(1)}"}).json()
    got = {e["resource"]["code"]["text"]: e["resource"] for e in conditions["entry"]}
    assert set(got) == {"Hypertension", "Asthma"}
    assert got["Hypertension"]["code"]["coding"][0] == {"system": legacy.ICD10, "code": "I10",
                                                         "display": "Hypertension"}
    assert got["Hypertension"]["onsetDateTime"] == "2019-04"
    assert got["Asthma"]["clinicalStatus"]["coding"][0]["code"] == "resolved"
    visits = c.get("/Appointment", params={"patient": f"Patient/{legacy.patient_id(1)}"}).json()
    statuses = sorted(e["resource"]["status"] for e in visits["entry"] if e["search"]["mode"] == "match")
    assert statuses == ["booked", "noshow"]
    visit = read(c, f"Appointment/{legacy.stable_id('legacy-appt', '11')}")
    assert visit["status"] == "fulfilled" and visit["start"] == "2026-05-02T10:30:00+00:00"
    assert visit["end"] == "2026-05-02T11:00:00+00:00"
    code, out = run(sched, source, capsys)
    assert "patients: created 0, updated 0, unchanged 6, failed 2" in out
    assert "appointments: created 0, updated 0, unchanged 3, failed 3" in out
    source.execute("UPDATE patients SET name = 'Ada King' WHERE id = 1")
    code, out = run(sched, source, capsys)
    assert "patients: created 0, updated 1, unchanged 5, failed 2" in out
    assert read(c, f"Patient/{legacy.patient_id(1)}")["name"][0]["family"] == "King"


def test_legacy_import_of_a_database_without_the_tables(sched: LiveServer, pg_admin_url: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    empty = Database(pg_admin_url)
    code = cli.main(["import", "legacy", empty.url, "--database-url", str(sched.settings.database_url)])
    assert code == 1 and 'relation "patients" does not exist' in capsys.readouterr().err
