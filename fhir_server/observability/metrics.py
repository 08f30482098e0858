"""Prometheus metrics (Prometheus text exposition format 0.0.4): requests, latency, pool usage, outbox lag.

- ``fhir_requests_total{interaction,type,operation,status}`` and
  ``fhir_request_duration_seconds{interaction,type,operation}`` (a histogram) are counted by the
  middleware, one cached child per label set, so a request costs two increments;
- ``fhir_db_pool_*`` come from the psycopg pool's own statistics, published at each scrape (and
  every few seconds in multiprocess mode, so that every worker's figures are fresh);
- ``fhir_outbox_pending``, ``fhir_outbox_lag_seconds`` and ``fhir_database_up`` are read from
  PostgreSQL at each scrape (they are the same for every process).

**Several processes** (``serve --workers N``): prometheus_client's multiprocess mode. ``serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory, or the operator's, emptied at start) before the
workers start; each worker writes its figures to memory-mapped files there and any worker answering
``/metrics`` sums them, so a scrape sees the whole server whichever worker it reaches. Pool gauges
are summed over live workers; a worker that stops cleanly removes its gauges.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fhir_server import __version__
from fhir_server.observability.labels import Labels

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PUBLISH_SECONDS = 5.0
POOL_GAUGES = {  # metric name → (psycopg_pool statistic, help)
    "fhir_db_pool_size": ("pool_size", "Connections the pool holds (idle and in use)"),
    "fhir_db_pool_idle": ("pool_available", "Idle connections in the pool"),
    "fhir_db_pool_max_size": ("pool_max", "Largest size the pool may grow to"),
    "fhir_db_pool_waiting": ("requests_waiting", "Requests waiting for a connection"),
}
POOL_COUNTERS = {  # metric name (without _total) → (statistic, scale, help)
    "fhir_db_pool_requests": ("requests_num", 1.0, "Connections asked of the pool"),
    "fhir_db_pool_requests_queued": ("requests_queued", 1.0, "Requests that had to wait for a connection"),
    "fhir_db_pool_wait_seconds": ("requests_wait_ms", 0.001, "Time spent waiting for a connection"),
    "fhir_db_pool_connection_errors": ("connections_errors", 1.0, "Failed attempts to open a connection"),
    "fhir_db_pool_connections_lost": ("connections_lost", 1.0, "Connections found broken when checked"),
}


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    """This process's metric objects (one set per process, shared by every app in it)."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
        self.registry = CollectorRegistry(auto_describe=False)
        if not multiprocess_mode():  # the process collectors cannot be summed over processes
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
        self.requests = Counter("fhir_requests", "HTTP requests answered, by FHIR interaction, type and status",
                                ["interaction", "type", "operation", "status"], registry=self.registry)
        self.duration = Histogram("fhir_request_duration_seconds",
                                  "Time from the request's arrival to the end of its response",
                                  ["interaction", "type", "operation"], buckets=BUCKETS, registry=self.registry)
        pool = ["pool"]  # primary, or replica (DATABASE_READ_URL)
        self.pool = {name: Gauge(name, text, pool, registry=self.registry, multiprocess_mode="livesum")
                     for name, (_, text) in POOL_GAUGES.items()}
        self.pool_in_use = Gauge("fhir_db_pool_in_use", "Connections lent out to requests", pool,
                                 registry=self.registry, multiprocess_mode="livesum")
        self.pool_counters = {name: Counter(name, text, pool, registry=self.registry)
                              for name, (_, _, text) in POOL_COUNTERS.items()}
        self._children: dict[tuple[Labels, int], tuple[Any, Any]] = {}

    def observe(self, labels: Labels, status: int, seconds: float) -> None:
        """Count one answered request (the hot path: two dictionary look-ups and two increments)."""
        pair = self._children.get((labels, status))
        if pair is None:
            pair = (self.requests.labels(*labels, str(status)), self.duration.labels(*labels))
            self._children[(labels, status)] = pair
        pair[0].inc()
        pair[1].observe(seconds)


@cache
def metrics() -> Metrics:
    return Metrics()


class PoolPublisher:
    """Copies a psycopg pool's statistics into the metrics (gauges set, counters advanced by the change)."""

    def __init__(self, pool: Any, replica: Any = None) -> None:
        self.pool = pool  # the primary's pool: the outbox query runs on it
        self.pools = {"primary": pool, **({"replica": replica} if replica is not None else {})}
        self._seen: dict[tuple[str, str], int] = {}
        self._task: asyncio.Task[None] | None = None

    def publish(self) -> None:
        m = metrics()
        for label, pool in self.pools.items():
            stats = pool.get_stats()
            for name, (key, _) in POOL_GAUGES.items():
                m.pool[name].labels(label).set(stats.get(key, 0))
            m.pool_in_use.labels(label).set(stats.get("pool_size", 0) - stats.get("pool_available", 0))
            for name, (key, scale, _) in POOL_COUNTERS.items():
                now = int(stats.get(key, 0))
                delta = now - self._seen.get((label, key), 0)
                if delta > 0:
                    m.pool_counters[name].labels(label).inc(delta * scale)
                self._seen[label, key] = now

    def start(self) -> None:
        """In multiprocess mode, keep this worker's pool figures fresh for scrapes answered by another one."""
        if multiprocess_mode() and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pool-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self.publish()
            await asyncio.sleep(PUBLISH_SECONDS)


class _Snapshot(Collector):
    """Metric families measured just now (database figures), for one exposition."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self.families


async def database_families(pool: Any, timeout: float = 2.0) -> list[GaugeMetricFamily]:
    """Outbox backlog and lag (the age of the oldest change not yet handed to consumers), and the database's state."""
    up = GaugeMetricFamily("fhir_database_up", "1 when PostgreSQL answered this scrape's query")
    pending = GaugeMetricFamily("fhir_outbox_pending", "Committed changes not yet handed to the consumers")
    lag = GaugeMetricFamily("fhir_outbox_lag_seconds", "Age of the oldest change waiting in the outbox (0: none)")
    info = GaugeMetricFamily("fhir_server_info", "This server's version", labels=["version", "fhir_version"])
    info.add_metric([__version__, "4.0.1"], 1)
    try:
        async with asyncio.timeout(timeout), pool.connection(timeout=timeout) as conn:
            cur = await conn.execute(
                "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(created)), 0) FROM outbox")
            row = await cur.fetchone()
    except Exception:  # unreachable, timed out or not migrated: say so rather than fail the scrape
        up.add_metric([], 0)
        return [up, info]
    up.add_metric([], 1)
    pending.add_metric([], float(row[0]))
    lag.add_metric([], max(float(row[1]), 0.0))
    return [up, pending, lag, info]


async def exposition(publisher: PoolPublisher | None) -> bytes:
    """The text a Prometheus scrape of this server gets."""
    if publisher is not None:
        publisher.publish()
    families = await database_families(publisher.pool) if publisher is not None else []
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot(families))
    if multiprocess_mode():
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = metrics().registry
    return generate_latest(registry) + generate_latest(snapshot)


def prepare_multiprocess() -> Path:
    """Before starting worker processes: the directory they share their metrics in, emptied.

    An operator's ``PROMETHEUS_MULTIPROC_DIR`` is used as it is (its old files removed); otherwise
    a temporary directory is made, and removed when this (the supervising) process exits.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
        return folder
    folder = Path(tempfile.mkdtemp(prefix="fhir-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    atexit.register(shutil.rmtree, folder, True)
    return folder


def process_stopped() -> None:
    """A worker leaving: its live gauges no longer count (its counters still do)."""
    if multiprocess_mode():
        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
