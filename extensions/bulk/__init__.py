"""Bulk Data Access (FHIR Bulk Data IG 2.0, https://hl7.org/fhir/uv/bulkdata/STU2/): ``$export`` and NDJSON ``$import``.

The kick-offs are operations (``export_op``, ``import_op``); the status, delete and file URLs and
the NDJSON upload are plain routes (``routes``, put in front of the FHIR routes by ``install``);
jobs run in every server process (``runner``, a background service), with their state and files in
PostgreSQL (migration 0009), so that any process can resume or serve them.
"""

from __future__ import annotations

from typing import Any

from fhir_server import background


def install(app: Any) -> None:
    """Put the bulk routes in front of the FHIR routes (``/bulk/...`` would otherwise look like [type]/[id])."""
    from extensions.bulk.routes import ROUTES

    app.router.routes[0:0] = ROUTES


async def start(server: Any) -> background.Stop:
    """Start this process's job runner (``fhir-server serve`` calls it at start-up)."""
    from extensions.bulk.runner import BulkRunner

    runner = BulkRunner(server)
    await runner.start()
    return runner.stop


background.register("bulk-data", start)
