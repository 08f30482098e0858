"""Search benchmark (issue: the search engine): p50/p95 of typical searches over ≥ 100,000 Synthea resources,
next to the same SQL run directly through psycopg in the same run (ratio server ÷ raw SQL).

The server runs as its own process on a scratch embedded PostgreSQL (authorization off); the data are
the Synthea bundles sent N times as transactions (fresh ids each time). For the raw figure, each
search is run once through the engine in this process with its connection recorded, and the SQL it
sent is then timed directly with psycopg (prepared, like the server's).

Usage: ``python -m bench.bench_search [--copies 11] [--runs 30]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
import psycopg

from bench.bench_rest import ingest
from bench.common import Client, ServerProcess, percentile, synthea_bundles


class Recorder:
    """A connection stand-in that records the SQL sent through it (and sends it on)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.statements: list[tuple[str, Any]] = []

    async def execute(self, sql: Any, args: Any = None, **kw: Any) -> Any:
        self.statements.append((str(sql), args))
        return await self._conn.execute(sql, args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def captured_sql(url: str, path: str) -> list[tuple[str, Any]]:
    """The statements the engine sends for one search (run in this process against the same database)."""
    from fhir_server.app import open_server
    from fhir_server.config import Settings
    from fhir_server.interactions import search

    settings = Settings(database_url=url, auth_enabled=False)
    res_type, _, query = path.lstrip("/").partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    async with open_server(settings) as server, server.pool.connection() as conn:
        rec = Recorder(conn)
        await search.search(server, rec, "http://bench", res_type, params)  # type: ignore[arg-type]
        return rec.statements


def time_raw(url: str, statements: list[tuple[str, Any]], runs: int) -> list[float]:
    from fhir_server.storage.db import register_raw_json

    with psycopg.connect(url, autocommit=True) as conn:
        register_raw_json(conn)
        samples = []
        for _ in range(runs + 3):
            t0 = time.perf_counter()
            for sql, args in statements:
                conn.execute(sql.encode(), args, prepare=True).fetchall()
            samples.append(time.perf_counter() - t0)
    return samples[3:]


def time_http(client: Client, path: str, runs: int) -> list[float]:
    samples = []
    for i in range(runs + 3):
        t0 = time.perf_counter()
        status, body = client.request("GET", path)
        samples.append(time.perf_counter() - t0)
        assert status == 200, body[:300]
        del i
    return samples[3:]


def page_through(client: Client, path: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    n, url = 0, path
    while url:
        status, body = client.request("GET", url)
        assert status == 200
        page = orjson.loads(body)
        n += sum(1 for e in page.get("entry", []) if e["search"]["mode"] == "match")
        nxt = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        url = nxt.split("//", 1)[1].split("/", 1)[1] if nxt else ""
        url = "/" + url if url else ""
    return time.perf_counter() - t0, n


def pick(url: str) -> dict[str, str]:
    """Values for the queries: a patient with many vital signs, its family name, an identifier, ..."""
    with psycopg.connect(url) as conn:
        patient = conn.execute(
            "SELECT r.target_id, count(*) FROM idx_reference r JOIN search_param p ON p.pid = r.pid "
            "WHERE p.res_type = 'Observation' AND p.code = 'patient' GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        ).fetchone()[0]
        content = orjson.loads(conn.execute("SELECT content::text FROM resource WHERE res_type = 'Patient' AND id = %s",
                                            (patient,)).fetchone()[0])
    ident = next(i for i in content["identifier"] if i.get("system") == "http://hospital.smarthealthit.org")
    return {"patient": patient, "family": content["name"][0]["family"], "birthdate": content["birthDate"],
            "identifier": f"{ident['system']}|{ident['value']}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=11)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    os.environ["FHIR_AUTH_DISABLED"] = "1"
    bundles = synthea_bundles()
    payload = [orjson.dumps(b) for b in bundles[:2]]
    payload += [orjson.dumps(b) for _ in range(args.copies) for b in bundles[2:]]
    n = sum(len(b["entry"]) for b in bundles[:2]) + args.copies * sum(len(b["entry"]) for b in bundles[2:])
    with ServerProcess(extra=["--no-auth"]) as server:
        elapsed = ingest(server.port, payload, 4)
        print(f"loaded {n:,} resources in {elapsed:.0f} s ({n / elapsed:,.0f}/s, indexing on)")
        url = server.database_url()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
        v = pick(url)
        loinc = "http://loinc.org|8302-2"  # body height: in every Synthea record
        queries = [
            f"/Observation?code={loinc}&_summary=count",
            f"/Observation?patient={v['patient']}&category=vital-signs&_sort=-date",
            f"/Observation?code={loinc}&date=ge2015-01-01&date=lt2016-01-01",
            "/Patient?" + urlencode({"family": v["family"], "birthdate": v["birthdate"]}),
            "/Patient?" + urlencode({"identifier": v["identifier"]}),
            f"/Condition?patient={v['patient']}&_include=Condition:subject&_include=Condition:encounter",
            f"/Patient?_id={v['patient']}&_revinclude=Observation:subject",
            "/Observation?" + urlencode({"subject:Patient.name": v["family"]}),
            f"/Patient?_has:Observation:subject:code={loinc.split('|')[1]}",
        ]
        client = Client(server.port)
        print(f"{'search':<95} {'p50 ms':>8} {'p95 ms':>8} {'raw p50':>8} {'ratio':>6}")
        for q in queries:
            http = time_http(client, q, args.runs)
            statements = asyncio.run(captured_sql(url, q))
            raw = time_raw(url, statements, args.runs)
            p50, p95, r50 = (percentile(http, 50) * 1000, percentile(http, 95) * 1000, percentile(raw, 50) * 1000)
            print(f"{q[:95]:<95} {p50:8.2f} {p95:8.2f} {r50:8.2f} {p50 / r50:6.2f}")
        total, count = page_through(client, "/Encounter?date=ge2010-01-01&_count=1000")
        print(f"{'/Encounter?date=ge2010-01-01&_count=1000 paged to the end':<95} {total * 1000:8.0f} ms for "
              f"{count:,} Encounters ({count / total:,.0f}/s)")


if __name__ == "__main__":
    main()
