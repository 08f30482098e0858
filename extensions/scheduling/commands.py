"""The scheduling and geography commands of ``fhir-server`` (issue 7): ``sync zocdoc``, ``import places``,
``import legacy``. Each prints a reconciliation report (created / updated / unchanged / failed, and
every failure with its reason) and exits 1 when a record failed."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

from extensions.scheduling.upsert import Report
from fhir_server.config import Settings


def add_commands(sub: Any, database_options: Callable[[argparse.ArgumentParser], None]) -> None:
    sync = sub.add_parser("sync", help="synchronise with an external scheduling service (zocdoc)")
    sync_sub = sync.add_subparsers(dest="sync_source", metavar="SOURCE", required=True)
    zd = sync_sub.add_parser("zocdoc", help="import ZocDoc providers, locations and availability; reconcile "
                             "appointments booked there (needs ZOCDOC_BASE_URL, ZOCDOC_TOKEN_URL, "
                             "ZOCDOC_CLIENT_ID, ZOCDOC_CLIENT_SECRET)")
    zd.add_argument("--zip", required=True, help="5-digit zip code to search around")
    group = zd.add_mutually_exclusive_group(required=True)
    group.add_argument("--specialty", help="ZocDoc specialty id (sp_...)")
    group.add_argument("--visit-reason", help="ZocDoc visit reason id (pc_...)")
    zd.add_argument("--days", type=int, default=14, help="days of availability to import (default 14)")
    zd.add_argument("--patient-type", choices=("new", "existing"), default="new",
                    help="availability for new or existing patients of the provider (default new)")
    database_options(zd)

    imp = sub.add_parser("import", help="import places (Google Maps) or a legacy database")
    imp_sub = imp.add_subparsers(dest="import_source", metavar="SOURCE", required=True)
    places = imp_sub.add_parser("places", help="Google Places around a point → Location + Organization "
                                "(needs GOOGLE_MAPS_API_KEY)")
    places.add_argument("--near", required=True, metavar="LAT,LONG",
                        help="the centre, in decimal degrees, e.g. 40.72,-74.00")
    places.add_argument("--radius", type=float, required=True, metavar="METRES",
                        help="search radius in metres (at most 50000)")
    places.add_argument("--type", dest="place_type", default=None, help="a place type, e.g. hospital, doctor")
    places.add_argument("--query", default=None, help="a Text Search instead of a Nearby Search")
    places.add_argument("--api", choices=("new", "legacy"), default="new",
                        help="Places API (New) (default; ≤ 20 places) or the legacy web service (≤ 60)")
    database_options(places)
    old = imp_sub.add_parser("legacy", help="the seed platform's patients and appointments tables → Patient, "
                             "Condition, Appointment")
    old.add_argument("source_url", metavar="DATABASE_URL", help="the legacy PostgreSQL database")
    database_options(old)


def _print(title: str, report: Report) -> None:
    print(f"{title}: {report.summary()}")
    for record, why in report.failed[:100]:
        print(f"  FAILED {record}: {why}")
    if len(report.failed) > 100:
        print(f"  ... and {len(report.failed) - 100} more")


def _near(value: str) -> tuple[float, float]:
    try:
        lat, lng = (float(x) for x in value.split(","))
    except ValueError as exc:
        raise SystemExit(f"fhir-server import places: --near must be LAT,LONG, not '{value}'") from exc
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise SystemExit("fhir-server import places: --near is not on the globe")
    return lat, lng


async def _run(command: str, args: argparse.Namespace, settings: Settings) -> int:
    from extensions.scheduling import imports, integrations, zocdoc_sync
    from fhir_server.app import open_server
    from mappers.http import ExternalError

    async with open_server(settings) as server:
        try:
            if command == "sync":
                client = integrations.zocdoc(settings)
                if client is None:
                    print("fhir-server sync zocdoc: set ZOCDOC_BASE_URL, ZOCDOC_TOKEN_URL, ZOCDOC_CLIENT_ID and "
                          "ZOCDOC_CLIENT_SECRET", file=sys.stderr)
                    return 2
                opts = zocdoc_sync.SyncOptions(args.zip, args.specialty, args.visit_reason, args.days,
                                               args.patient_type)
                result = await zocdoc_sync.sync(server, client, opts)
                _print("providers and locations", result.directory)
                _print("slots", result.slots)
                _print("appointments", result.appointments)
                return 1 if result.failed else 0
            if args.import_source == "places":
                maps = integrations.maps(settings)
                if maps is None:
                    print("fhir-server import places: set GOOGLE_MAPS_API_KEY", file=sys.stderr)
                    return 2
                lat, lng = _near(args.near)
                report = await imports.import_places(server, maps, lat, lng, args.radius, args.place_type,
                                                     args.api, args.query)
                _print("places", report)
                return 1 if report.failed else 0
            people, visits = await imports.import_legacy(server, args.source_url)
            _print("patients", people)
            _print("appointments", visits)
            return 1 if people.failed or visits.failed else 0
        except ExternalError as exc:
            print(f"fhir-server {command}: {exc}", file=sys.stderr)
            return 1
        finally:
            await integrations.close(settings)


def run(command: str, args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    try:
        return asyncio.run(_run(command, args, settings))
    except psycopg.Error as exc:
        print(f"fhir-server {command}: database error: {str(exc).strip()}", file=sys.stderr)
        return 1
