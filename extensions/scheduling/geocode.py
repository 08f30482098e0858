"""$geocode (Google Geocoding, ../shared/apis/google-maps.md; http://hl7.org/fhir/R4/location.html#position,
extension-geolocation.html): addresses → coordinates, on demand.

- ``POST Location/[id]/$geocode``: sets ``Location.position`` from its address.
- ``POST Patient/[id]/$geocode``: adds the geolocation extension to each current address.
- ``GET /$geocode?address=…``: latitude, longitude and the formatted address, as Parameters.
Already positioned resources are left alone unless ``force=true``. Answers are cached by
normalised address in PostgreSQL (``geocode_cache``), so an address is bought from Google once.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from extensions.scheduling import integrations
from extensions.scheduling.opdefs import definition
from extensions.scheduling.workflow import Json, UpstreamFailed, current, load, write_tx
from fhir_server.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unprocessable
from fhir_server.interactions import update
from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.operations.params import parameters_resource
from fhir_server.state import Server
from mappers import maps
from mappers.common import GEOLOCATION, MappingError
from mappers.http import ExternalError

_PARAMS = [("force", "in", 0, "1", "boolean", "Geocode again even where a position is already set"),
           ("return", "out", 1, "1", "Resource", "The resource with its position(s)")]
NO_KEY = (" An address not yet in the server's cache needs Google Maps: without GOOGLE_MAPS_API_KEY on the "
          "server the answer is 503.")
INSTANCE_DEF = definition("geocode", "Geocode", "Set positions from addresses (Google Geocoding)." + NO_KEY,
                          type_level=False, instance=True, affects_state=True, parameters=_PARAMS,
                          resource="Location")
INSTANCE_DEF["resource"] = ["Location", "Patient"]
SYSTEM_DEF = definition("geocode", "Geocode address", "Coordinates of an address (Google Geocoding)." + NO_KEY,
                        type_level=False, instance=False, affects_state=False, resource="Location", parameters=[
                            ("address", "in", 1, "1", "string", "The address, on one line"),
                            ("latitude", "out", 0, "1", "decimal", "Latitude (WGS84)"),
                            ("longitude", "out", 0, "1", "decimal", "Longitude (WGS84)"),
                            ("formatted-address", "out", 0, "1", "string", "Google's formatted address"),
                            ("partial", "out", 0, "1", "boolean", "Only part of the address matched")])
SYSTEM_DEF.update(id="geocode-address", url=SYSTEM_DEF["url"].replace("Location-geocode", "geocode-address"),
                  system=True)
del SYSTEM_DEF["resource"]


def key(address: str) -> str:
    return " ".join(re.sub(r"[,;]", " ", address.lower()).split())


async def lookup(server: Server, address: str) -> maps.GeocodeHit | None:
    """The first geocoding result for an address (cached), None when Google finds nothing."""
    k = key(address)
    async with server.pool.connection() as conn:
        cur = await conn.execute("SELECT response FROM geocode_cache WHERE address_key = %s", (k,))
        row = await cur.fetchone()
    if row is not None:
        return maps.geocode(orjson.loads(row[0]))
    client = integrations.maps(server.settings)
    if client is None:
        raise ServiceUnavailable("Geocoding needs Google Maps (GOOGLE_MAPS_API_KEY) on this server")
    try:
        response = await client.geocode(address)
        hit = maps.geocode(response)
    except ExternalError as exc:
        raise UpstreamFailed(f"Google Geocoding failed: {exc.message}") from exc
    except MappingError as exc:
        raise UpstreamFailed(f"Google Geocoding: {exc.message}") from exc
    async with server.pool.connection() as conn:
        await conn.execute("INSERT INTO geocode_cache (address_key, address, response) VALUES (%s, %s, %s::jsonb) "
                           "ON CONFLICT (address_key) DO NOTHING", (k, address, orjson.dumps(response).decode()))
    return hit


def _geolocation(hit: maps.GeocodeHit) -> Json:
    return {"url": GEOLOCATION, "extension": [{"url": "latitude", "valueDecimal": hit.lat},
                                              {"url": "longitude", "valueDecimal": hit.lng}]}


async def _address_hit(server: Server, address: Any, what: str) -> maps.GeocodeHit:
    line = maps.address_line(address) if isinstance(address, dict) else None
    if line is None:
        raise Unprocessable(f"{what} has no address to geocode")
    hit = await lookup(server, line)
    if hit is None:
        raise Unprocessable(f"Google found no place for the address of {what}: '{line}'")
    return hit


async def geocoded(server: Server, res_type: str, resource: Json, force: bool) -> Json | None:
    """The resource with positions set, or None when there is nothing to change."""
    what = f"{res_type}/{resource.get('id')}"
    if res_type == "Location":
        if resource.get("position") and not force:
            return None
        hit = await _address_hit(server, resource.get("address"), what)
        return {**resource, "position": {"latitude": hit.lat, "longitude": hit.lng}}
    changed = False
    addresses = []
    for address in resource.get("address") or []:
        located = any(isinstance(e, dict) and e.get("url") == GEOLOCATION for e in address.get("extension") or [])
        if address.get("use") != "old" and (force or not located):
            hit = await _address_hit(server, address, what)
            exts = [e for e in address.get("extension") or []
                    if not (isinstance(e, dict) and e.get("url") == GEOLOCATION)]
            address = {**address, "extension": [*exts, _geolocation(hit)]}
            changed = True
        addresses.append(address)
    if not addresses:
        raise Unprocessable(f"{what} has no address to geocode")
    return {**resource, "address": addresses} if changed else None


@operation("geocode", instance=True, resource_types=("Location", "Patient"), affects_state=True,
           definition=INSTANCE_DEF)
async def geocode_resource(ctx: OperationContext) -> OperationResult:
    server = ctx.server
    res_type, res_id = str(ctx.res_type), str(ctx.res_id)
    force = bool(ctx.params.bool("force", False))
    async with server.pool.connection() as conn:
        stored = await load(conn, res_type, res_id)
    if stored is None:
        raise NotFound(f"{res_type}/{res_id} is not known")
    wanted = await geocoded(server, res_type, stored, force)  # Google is asked outside the transaction
    if wanted is None:
        return OperationResult(resource=stored)
    async with write_tx(server) as session:
        await session.lock([(res_type, res_id)])
        if await current(session, res_type, res_id) != stored:
            raise Conflict(f"{res_type}/{res_id} changed while it was geocoded; try again")
        outcome = await update.update(server, session, res_type, res_id, wanted)
    return OperationResult(resource=outcome.resource)


@operation("geocode", system=True, definition=SYSTEM_DEF)
async def geocode_address(ctx: OperationContext) -> OperationResult:
    address = ctx.params.str("address")
    if not address or not address.strip():
        raise BadRequest("Parameter 'address' is required")
    hit = await lookup(ctx.server, address)
    if hit is None:
        raise NotFound(f"Google found no place for '{address}'")
    values: list[tuple[str, Any]] = [("latitude", ("valueDecimal", hit.lat)), ("longitude", ("valueDecimal", hit.lng)),
                                     ("partial", ("valueBoolean", hit.partial))]
    if hit.formatted_address:
        values.append(("formatted-address", ("valueString", hit.formatted_address)))
    return OperationResult(resource=parameters_resource(values))
