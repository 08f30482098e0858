"""Running Bulk Data jobs (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-status-request) in every
server process, with their state in PostgreSQL so that they survive a restart.

Each server process has one ``BulkRunner`` (started and stopped with the app). It claims queued
jobs (and jobs whose lease ran out: their process died) up to ``bulk_jobs`` at a time, keeps their
leases alive with a heartbeat, and cancels a job's task when the heartbeat finds the job gone (the
client deleted it) or taken over. On a clean shutdown it gives its leases back, so another process
resumes at once. A kick-off in this process wakes it; others notice within a second.

``$import`` validation and indexing run in a pool of worker processes (``bulk_workers``), started
on first use and stopped after a minute unused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import socket
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from extensions.bulk import export_run, import_run, store
from extensions.bulk.common import RUNNERS
from fhir_server.errors import FhirError

log = logging.getLogger(__name__)
POLL = 1.0  # seconds between looks for jobs queued by other processes
PURGE_EVERY = 300.0
POOL_IDLE = 60.0
MAX_RUNS = 5


class WorkerPool:
    """The $import worker processes (spawned: the server process has threads), made on demand."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self.users = 0
        self.last_used = time.monotonic()

    def get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from extensions.bulk import worker

            self._pool = ProcessPoolExecutor(max(1, self.settings.bulk_workers), multiprocessing.get_context("spawn"),
                                             initializer=worker.init, initargs=(self.settings,))
        self.last_used = time.monotonic()
        return self._pool

    def reap(self) -> None:
        if self._pool is not None and self.users == 0 and time.monotonic() - self.last_used > POOL_IDLE:
            self.shutdown()

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class BulkRunner:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.settings = server.settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.workers = WorkerPool(server.settings)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._event = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        self._event.set()

    async def start(self) -> None:
        RUNNERS[id(self.server)] = self
        if self.settings.bulk_jobs > 0:
            self._loops = [asyncio.create_task(self._claiming()), asyncio.create_task(self._heartbeat())]

    async def stop(self) -> None:
        RUNNERS.pop(id(self.server), None)
        running = [*self._loops, *self.tasks.values()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        try:
            async with self.server.pool.connection() as conn:
                await store.release(conn, self.owner)
        except Exception:  # the database may be going away too; the leases then simply run out
            log.warning("could not release the bulk job leases of %s", self.owner, exc_info=True)
        self.workers.shutdown()

    async def _claiming(self) -> None:
        last_purge = 0.0
        while True:
            try:
                await self._fill()
                if time.monotonic() - last_purge > PURGE_EVERY:
                    last_purge = time.monotonic()
                    async with self.server.pool.connection() as conn:
                        await store.purge_expired(conn)
                self.workers.reap()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bulk job runner")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), POLL)
            self._event.clear()

    async def _fill(self) -> None:
        while len(self.tasks) < self.settings.bulk_jobs:
            async with self.server.pool.connection() as conn:
                job = await store.claim(conn, self.owner, self.settings.bulk_lease)
            if job is None:
                return
            if job.runs > MAX_RUNS:  # its processes keep dying on it: stop trying
                await self._fail(job, 500, f"The job was started {MAX_RUNS} times and never finished")
                continue
            self.tasks[job.id] = asyncio.create_task(self._run(job))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.bulk_lease / 3)
            if not self.tasks:
                continue
            try:
                async with self.server.pool.connection() as conn:
                    held = await store.renew(conn, self.owner, self.settings.bulk_lease)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bulk job heartbeat")
                continue
            for job_id, task in list(self.tasks.items()):
                if job_id not in held:
                    task.cancel()

    async def _run(self, job: store.Job) -> None:
        try:
            if job.kind == "export":
                await export_run.run(self, job)
            else:
                await import_run.run(self, job)
        except export_run.Lost:
            log.info("bulk job %s is no longer run by %s", job.id, self.owner)
        except asyncio.CancelledError:
            pass
        except FhirError as exc:
            await self._fail(job, exc.status, exc.diagnostics)
        except Exception as exc:
            log.exception("bulk job %s failed", job.id)
            await self._fail(job, 500, f"The job failed on the server ({type(exc).__name__})")
        finally:
            self.tasks.pop(job.id, None)
            self._event.set()

    async def _fail(self, job: store.Job, status: int, message: str) -> None:
        try:
            async with self.server.pool.connection() as conn:
                await store.fail(conn, job.id, self.owner, status, message, self.settings.bulk_retention)
        except Exception:
            log.exception("could not record the failure of bulk job %s", job.id)
