"""Scheduling benchmark (issue 7): $find near a point, sequential $book, and 50 concurrent $book of one slot,
against a ``fhir-server serve`` process; sequential booking is compared with the same row work done
in raw PostgreSQL (lock the slot row, write the claim, update the slot, insert an appointment row).

    python -m bench.bench_scheduling [--clinics 200] [--slots 20]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg

from bench.common import Client, ServerProcess

CENTER = (40.7199, -74.0031)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def setup(cl: Client, clinics: int, slots: int) -> list[str]:
    """Clinics around the centre (a Location, Practitioner, PractitionerRole, Schedule each) with free slots."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    slot_ids: list[str] = []
    for i in range(clinics):
        entries: list[dict[str, Any]] = []
        ids = {k: f"urn:uuid:{uuid.uuid4()}" for k in ("loc", "doc", "role", "sched")}
        lat, lon = CENTER[0] + (i % 20 - 10) * 0.004, CENTER[1] + (i // 20 - 5) * 0.005
        for key, res in (
            ("loc", {"resourceType": "Location", "name": f"Clinic {i}",
                     "position": {"latitude": lat, "longitude": lon}}),
            ("doc", {"resourceType": "Practitioner", "name": [{"family": f"Doc{i}"}]}),
            ("role", {"resourceType": "PractitionerRole", "practitioner": {"reference": ids["doc"]},
                      "location": [{"reference": ids["loc"]}]}),
            ("sched", {"resourceType": "Schedule", "actor": [{"reference": ids["role"]}]}),
        ):
            entries.append({"fullUrl": ids[key], "resource": res,
                            "request": {"method": "POST", "url": res["resourceType"]}})
        for j in range(slots):
            t = start + timedelta(days=j // 8, hours=9 + j % 8)
            entries.append({"resource": {"resourceType": "Slot", "schedule": {"reference": ids["sched"]},
                                         "status": "free", "start": _iso(t), "end": _iso(t + timedelta(minutes=30))},
                            "request": {"method": "POST", "url": "Slot"}})
        status, body = cl.request("POST", "/", orjson.dumps({"resourceType": "Bundle", "type": "transaction",
                                                             "entry": entries}))
        assert status == 200, body[:500]
        for e in orjson.loads(body)["entry"]:
            if e["response"]["location"].startswith("Slot/"):
                slot_ids.append(e["response"]["location"].split("/")[1])
    return slot_ids


def bench_find(cl: Client, n: int = 50) -> float:
    times = []
    path = f"/Appointment/$find?near={CENTER[0]}|{CENTER[1]}|3|km&_count=20"
    for _ in range(n):
        t = time.perf_counter()
        status, _ = cl.request("GET", path)
        times.append(time.perf_counter() - t)
        assert status == 200
    return statistics.median(times) * 1000


def _book_body(slot: str, patient: str) -> bytes:
    return orjson.dumps({"resourceType": "Parameters", "parameter": [
        {"name": "slot", "valueReference": {"reference": f"Slot/{slot}"}},
        {"name": "patient", "valueReference": {"reference": f"Patient/{patient}"}}]})


def bench_book(cl: Client, slots: list[str], patient: str) -> float:
    t = time.perf_counter()
    for s in slots:
        status, body = cl.request("POST", "/Appointment/$book", _book_body(s, patient))
        assert status == 201, body[:300]
    return len(slots) / (time.perf_counter() - t)


def bench_create(cl: Client, patient: str, n: int) -> float:
    """Plain ``POST /Appointment`` (no slot): the server's own write path, for comparison."""
    body = orjson.dumps({"resourceType": "Appointment", "status": "booked", "start": "2030-01-01T10:00:00Z",
                         "end": "2030-01-01T10:30:00Z",
                         "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}]})
    t = time.perf_counter()
    for _ in range(n):
        status, _ = cl.request("POST", "/Appointment", body)
        assert status == 201
    return n / (time.perf_counter() - t)


def bench_raw(url: str, n: int) -> float:
    """The row work of a booking in plain SQL, one transaction each (the PostgreSQL floor)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE b_slot (id text PRIMARY KEY, content jsonb)")
        conn.execute("CREATE TEMP TABLE b_claim (slot_id text PRIMARY KEY, appointment_id text)")
        conn.execute("CREATE TEMP TABLE b_appt (id text PRIMARY KEY, content jsonb)")
        ids = [str(uuid.uuid4()) for _ in range(n)]
        with conn.transaction():
            for i in ids:
                conn.execute("INSERT INTO b_slot VALUES (%s, '{\"status\": \"free\"}')", (i,))
        t = time.perf_counter()
        for i in ids:
            with conn.transaction():
                conn.execute("SELECT content FROM b_slot WHERE id = %s FOR UPDATE", (i,)).fetchone()
                conn.execute("INSERT INTO b_claim VALUES (%s, %s)", (i, i))
                conn.execute("UPDATE b_slot SET content = '{\"status\": \"busy\"}' WHERE id = %s", (i,))
                conn.execute("INSERT INTO b_appt VALUES (%s, '{\"status\": \"booked\"}')", (i,))
        return n / (time.perf_counter() - t)


def bench_contention(port: int, slot: str, patient: str, n: int = 50) -> tuple[float, dict[int, int]]:
    clients = [Client(port) for _ in range(n)]
    for c in clients:
        c.request("GET", "/metadata")
    barrier, results = threading.Barrier(n + 1), [0] * n

    def go(i: int) -> None:
        barrier.wait()
        results[i] = clients[i].request("POST", "/Appointment/$book", _book_body(slot, patient))[0]

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    barrier.wait()
    t = time.perf_counter()
    for th in threads:
        th.join()
    return time.perf_counter() - t, {s: results.count(s) for s in set(results)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clinics", type=int, default=200)
    ap.add_argument("--slots", type=int, default=20)
    ap.add_argument("--bookings", type=int, default=200)
    args = ap.parse_args()
    with ServerProcess(extra=["--no-auth"]) as server:
        cl = Client(server.port)
        t = time.perf_counter()
        slots = setup(cl, args.clinics, args.slots)
        print(f"setup: {args.clinics} clinics, {len(slots)} slots in {time.perf_counter() - t:.1f} s")
        _, body = cl.request("POST", "/Patient", orjson.dumps({"resourceType": "Patient", "name": [{"family": "B"}]}))
        patient = orjson.loads(body)["id"]
        print(f"$find near (3 km, 20 proposals): median {bench_find(cl):.1f} ms")
        ours = bench_book(cl, slots[1:args.bookings + 1], patient)
        plain = bench_create(cl, patient, args.bookings)
        raw = bench_raw(server.database_url(), args.bookings)
        print(f"sequential $book: {ours:.0f}/s; plain POST /Appointment: {plain:.0f}/s (ratio {ours / plain:.2f}); "
              f"raw PostgreSQL row work of a booking: {raw:.0f}/s (ratio {ours / raw:.3f})")
        wall, counts = bench_contention(server.port, slots[0], patient)
        print(f"50 concurrent $book of one slot: {wall * 1000:.0f} ms until all answered; statuses {counts}")


if __name__ == "__main__":
    main()
