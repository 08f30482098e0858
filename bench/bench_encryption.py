"""Encryption at rest, what it costs (storage/crypto.py): ingest, read by id, storage, and the off path.

Two ``fhir-server serve`` processes side by side, each on its own scratch embedded PostgreSQL: one
without a key, one with ``FHIR_ENCRYPTION_KEY``. Both get the same Synthea transaction Bundles
(fresh ids each copy), in rounds that alternate which server goes first, so that the load of a shared
machine falls on both alike; reads by id are then interleaved between the two (one GET here, one
there). Figures printed:

- ingest: resources/s through the HTTP API (``--clients`` concurrent transaction Bundles), per server;
- read by id: p50 / p99 per server over the same number of GETs;
- create: p50 of single POSTs, interleaved the same way;
- storage: ``resource`` + ``resource_history`` (with TOAST and indexes) per server;
- opening one stored row in this process (``content_bytes``): µs, sealed and plain;
- the off path: the read query as it was (JSONB only) and as it is now (the ``CASE`` on ``content_enc``),
  timed alternately through psycopg on the server without a key.

Usage: ``FHIR_AUTH_DISABLED=1 FHIR_AUDIT=off python -m bench.bench_encryption [--copies 4] [--reads 4000]``
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import time

import orjson
import psycopg

from bench.bench_rest import ingest
from bench.common import Client, ServerProcess, percentile, synthea_bundles
from fhir_server.storage import crypto

OLD_READ = ("SELECT rid, version, last_updated, deleted, '{\"resourceType\":' || to_json(r.res_type)::text || ',' "
            "|| substr((r.content - 'resourceType')::text, 2) FROM resource r WHERE res_type = %s AND id = %s")
NEW_READ = (f"SELECT rid, version, last_updated, deleted, {crypto.content_sql('r')} FROM resource r "
            "WHERE res_type = %s AND id = %s")


def sizes(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_total_relation_size('resource') + pg_total_relation_size('resource_history')"
                           ).fetchone()
    return int(row[0]) if row else 0


def open_cost(url: str, keys: crypto.Keys | None, n: int = 2000) -> float:
    """Median µs to turn one stored row (as the read query returns it) into its JSON bytes."""
    crypto.configure(keys)
    with psycopg.connect(url) as conn:
        rows = [r[0] for r in conn.execute(f"SELECT {crypto.content_sql('r')} FROM resource r WHERE NOT deleted "
                                           "ORDER BY random() LIMIT %s", (n,)).fetchall()]
    times = []
    for text in rows:
        t0 = time.perf_counter()
        crypto.content_bytes(text)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def off_path(url: str, keys: list[tuple[str, str]]) -> tuple[float, float]:
    """p50 ms of the read query before and after the change, alternately, on rows without a key."""
    samples: dict[str, list[float]] = {OLD_READ: [], NEW_READ: []}
    with psycopg.connect(url, autocommit=True) as conn:
        for t, i in keys:
            for sql in random.sample([OLD_READ, NEW_READ], 2):
                t0 = time.perf_counter()
                conn.execute(sql, (t, i), prepare=True).fetchone()
                samples[sql].append(time.perf_counter() - t0)
    return percentile(samples[OLD_READ], 50) * 1000, percentile(samples[NEW_READ], 50) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=4, help="how many times the 50 patient bundles are sent")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--reads", type=int, default=4000)
    ap.add_argument("--creates", type=int, default=1000)
    args = ap.parse_args()

    key = os.urandom(32)
    bundles = synthea_bundles()
    shared, patients = bundles[:2], bundles[2:]
    first = [orjson.dumps(b) for b in shared]
    copy = [orjson.dumps(b) for b in patients]
    per_copy = sum(len(b["entry"]) for b in patients)
    names = ("plain", "encrypted")
    env = {"plain": {"FHIR_ENCRYPTION_KEY": ""},
           "encrypted": {"FHIR_ENCRYPTION_KEY": base64.b64encode(key).decode(), "FHIR_ENCRYPTION_KEY_ID": "bench"}}
    with ServerProcess(env=env["plain"]) as plain, ServerProcess(env=env["encrypted"]) as sealed:
        servers = {"plain": plain, "encrypted": sealed}
        spent = dict.fromkeys(names, 0.0)
        for name in names:
            ingest(servers[name].port, first, 1)
        for n in range(args.copies):
            for name in (names if n % 2 == 0 else names[::-1]):
                spent[name] += ingest(servers[name].port, copy, args.clients)
        for name in names:
            print(f"ingest, {name}: {per_copy * args.copies / spent[name]:,.0f} resources/s "
                  f"({args.copies} x {len(copy)} transaction Bundles, {args.clients} clients)")
        print(f"  encrypted ÷ plain: {spent['plain'] / spent['encrypted']:.2f}")

        urls = {name: servers[name].database_url() for name in names}
        keys: dict[str, list[tuple[str, str]]] = {}
        for name in names:
            with psycopg.connect(urls[name]) as conn:
                keys[name] = conn.execute("SELECT res_type, id FROM resource ORDER BY random() LIMIT %s",
                                          (args.reads,)).fetchall()
        clients = {name: Client(servers[name].port) for name in names}
        samples: dict[str, list[float]] = {name: [] for name in names}
        for pair in zip(keys["plain"], keys["encrypted"], strict=False):
            for name, (t, i) in random.sample(list(zip(names, pair, strict=True)), 2):
                t0 = time.perf_counter()
                status, _ = clients[name].request("GET", f"/{t}/{i}")
                samples[name].append(time.perf_counter() - t0)
                assert status == 200
        for name in names:
            s = samples[name]
            print(f"read by id, {name}: p50 {percentile(s, 50) * 1000:.3f} ms, p99 {percentile(s, 99) * 1000:.3f} ms "
                  f"({len(s):,} GETs, interleaved)")

        body = orjson.dumps({"resourceType": "Patient", "name": [{"family": "Bench"}], "gender": "other"})
        created: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.creates):
            for name in random.sample(list(names), 2):
                t0 = time.perf_counter()
                status, _ = clients[name].request("POST", "/Patient", body)
                created[name].append(time.perf_counter() - t0)
                assert status == 201
        for name in names:
            print(f"create, {name}: p50 {percentile(created[name], 50) * 1000:.3f} ms ({args.creates:,} POSTs, "
                  "interleaved)")
        for name in names:
            print(f"storage, {name}: resource + resource_history {sizes(urls[name]) / 2**20:,.1f} MiB")
        sealed_us = open_cost(urls["encrypted"], crypto.Keys("bench", {"bench": key}))
        plain_us = open_cost(urls["plain"], None)
        print(f"opening a stored row in Python: sealed {sealed_us:.1f} µs, plain {plain_us:.2f} µs (median)")
        old, new = off_path(urls["plain"], keys["plain"])
        print(f"read query without a key, through psycopg: before {old:.3f} ms, now {new:.3f} ms (p50)")


if __name__ == "__main__":
    main()
