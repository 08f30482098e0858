"""REST core benchmark (issue: FHIR R4 REST core): ingest, sequential create, read-by-id, and the raw limits.

One run, one machine: the server runs as its own process (``fhir-server serve``, embedded
PostgreSQL); clients are keep-alive HTTP connections in this process. Figures printed:

- ingest: resources/s through the HTTP API, transaction Bundles (Synthea, replicated so that the
  server assigns fresh ids) from 4 concurrent clients; the raw limit is PostgreSQL COPY of the
  same stored JSONB rows into a bare table, and the ratio ours ÷ limit;
- sequential create: single POSTs from one client, req/s;
- read by id: sequential GETs from one client, req/s, p50 and p99, next to the same SELECT run
  directly through psycopg.

``--encrypt``: the server seals what it stores (``FHIR_ENCRYPTION_KEY``, a random key); the raw limit then
copies the sealed rows. ``bench/bench_encryption.py`` compares the two side by side.

Usage: ``python -m bench.bench_rest [--copies 11] [--reads 5000] [--creates 2000] [--workers 1] [--encrypt]``
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import threading
import time
from queue import Empty, Queue

import orjson
import psycopg

from bench.common import Client, ServerProcess, percentile, synthea_bundles


def ingest(port: int, bundles: list[bytes], clients: int) -> float:
    work: Queue[bytes] = Queue()
    for b in bundles:
        work.put(b)
    errors: list[str] = []

    def run() -> None:
        c = Client(port)
        while True:
            try:
                body = work.get_nowait()
            except Empty:
                return
            status, text = c.request("POST", "/", body)
            if status != 200:
                errors.append(text[:300].decode(errors="replace"))

    threads = [threading.Thread(target=run) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} bundles failed, first: {errors[0]}")
    return elapsed


def copy_limit(url: str) -> tuple[int, float]:
    """COPY the stored rows (JSONB, or sealed bytes) into a bare table: the PostgreSQL write limit for the same data."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT res_type, id, version, last_updated, content::text, content_enc, key_id "
                            "FROM resource").fetchall()
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (res_type text, id text, version int, last_updated timestamptz, "
                     "content jsonb, content_enc bytea, key_id text)")
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_copy FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        elapsed = time.perf_counter() - t0
        conn.execute("DROP TABLE bench_copy")
    return len(rows), elapsed


def raw_reads(url: str, keys: list[tuple[str, str]]) -> list[float]:
    with psycopg.connect(url, autocommit=True) as conn:
        samples = []
        sql = ("SELECT version, last_updated, content::text, content_enc FROM resource "
               "WHERE res_type = %s AND id = %s")
        for t, i in keys:
            t0 = time.perf_counter()
            conn.execute(sql, (t, i), prepare=True).fetchone()
            samples.append(time.perf_counter() - t0)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=11, help="how many times the 50 patient bundles are sent")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--reads", type=int, default=5000)
    ap.add_argument("--creates", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=1, help="server processes (serve --workers N)")
    ap.add_argument("--encrypt", action="store_true", help="encryption at rest on (a random FHIR_ENCRYPTION_KEY)")
    args = ap.parse_args()

    bundles = synthea_bundles()
    shared, patients = bundles[:2], bundles[2:]
    payload = [orjson.dumps(b) for b in shared] + [orjson.dumps(b) for _ in range(args.copies) for b in patients]
    n_resources = sum(len(b["entry"]) for b in shared) + args.copies * sum(len(b["entry"]) for b in patients)

    env = {"FHIR_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode() if args.encrypt else ""}
    with ServerProcess(extra=["--workers", str(args.workers)] if args.workers > 1 else None, env=env) as server:
        elapsed = ingest(server.port, payload, args.clients)
        ingest_rate = n_resources / elapsed
        print(f"ingest: {n_resources:,} resources in {elapsed:.1f} s = {ingest_rate:,.0f} resources/s "
              f"({args.clients} clients, {len(payload)} transaction Bundles)")

        url = server.database_url()
        copied, copy_s = copy_limit(url)
        copy_rate = copied / copy_s
        kind = "sealed" if args.encrypt else "JSONB"
        print(f"raw limit: COPY of the same {copied:,} {kind} rows = {copy_rate:,.0f} rows/s; "
              f"ingest / limit = {ingest_rate / copy_rate:.2f}")

        client = Client(server.port)
        body = orjson.dumps({"resourceType": "Patient", "name": [{"family": "Bench"}], "gender": "other"})
        t0 = time.perf_counter()
        for _ in range(args.creates):
            status, _ = client.request("POST", "/Patient", body)
            assert status == 201
        create_s = time.perf_counter() - t0
        print(f"sequential create: {args.creates / create_s:,.0f} req/s")

        with psycopg.connect(url) as conn:
            keys = conn.execute("SELECT res_type, id FROM resource ORDER BY random() LIMIT %s",
                                (args.reads,)).fetchall()
        random.shuffle(keys)
        samples = []
        for t, i in keys:
            t0 = time.perf_counter()
            status, _ = client.request("GET", f"/{t}/{i}")
            samples.append(time.perf_counter() - t0)
            assert status == 200
        p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
        rate = len(samples) / sum(samples)
        raw = raw_reads(url, keys)
        raw_p50 = percentile(raw, 50) * 1000
        print(f"read by id: {rate:,.0f} req/s, p50 {p50:.3f} ms, p99 {p99:.3f} ms "
              f"(raw SELECT through psycopg: p50 {raw_p50:.3f} ms; ratio p50 {p50 / raw_p50:.1f})")


if __name__ == "__main__":
    main()
