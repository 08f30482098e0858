"""``$import`` worker processes (Bulk Data import, http://hl7.org/fhir/R4/async.html): validation and indexing
of NDJSON chunks in parallel, each worker a full write path of its own.

FHIRPath index extraction and validation are CPU work in Python (~200 µs a resource); one process
cannot keep up with PostgreSQL's COPY, so chunks are spread over ``bulk_workers`` processes. Each
is started (spawned) with the server's settings and opens what a server process opens
(``fhir_server.app.open_server``: the model, the validators, the search registry, the operation
modules with their write hooks and guards, a small connection pool); it then writes the chunks it is
given (``extensions.bulk.ingest.write_chunk``), reading them from and committing them to PostgreSQL
itself, so only job and chunk numbers cross the process boundary.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import Any

from fhir_server.config import Settings


@dataclass(slots=True)
class _Worker:
    loop: asyncio.AbstractEventLoop
    server: Any
    stack: AsyncExitStack


_worker: _Worker | None = None


def _exit_with(parent: int) -> None:
    """End this worker when the server process that started it is gone (killed, crashed): a chunk it was
    writing is rolled back with its connection and written again by the process that resumes the job."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def init(settings: Settings) -> None:
    """Process initializer: open the server's write path in this process."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server process decides when to stop
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    logging.basicConfig(level=os.environ.get("FHIR_LOG_LEVEL", "WARNING").upper())
    from fhir_server.app import open_server
    from fhir_server.subscriptions import hook

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stack = AsyncExitStack()
    server = loop.run_until_complete(stack.enter_async_context(open_server(replace(settings, pool_min=1, pool_max=2))))
    hook.install()
    gc.freeze()  # the model and the compiled validators and plans are permanent: keep them out of GC passes
    _worker = _Worker(loop, server, stack)


def write_chunk(job_id: str, seq: int) -> list[str]:
    """Write one chunk of an import job; the resource types written."""
    from extensions.bulk.ingest import write_chunk as write

    assert _worker is not None, "worker.init has not run in this process"
    return _worker.loop.run_until_complete(write(_worker.server, job_id, seq))
