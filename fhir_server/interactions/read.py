"""read and vread (http://hl7.org/fhir/R4/http.html#read, #vread)."""

from __future__ import annotations

from fhir_server import access
from fhir_server.errors import Gone, NotFound
from fhir_server.interactions.common import Outcome, check_id, check_type
from fhir_server.storage import repository
from fhir_server.storage.repository import Conn


async def read(conn: Conn, res_type: str, res_id: str) -> Outcome:
    check_type(res_type)
    access.require("read", res_type)
    check_id(res_id)  # before the query: PostgreSQL refuses some characters (NUL) outright
    row = await repository.read(conn, res_type, res_id)
    if row is None:
        raise NotFound(f"{res_type}/{res_id} is not known")
    if row.deleted:
        if access.current().restricted and row.version > 1:  # 410 only to whoever could read it: no existence leak
            last = await repository.vread(conn, res_type, res_id, row.version - 1)
            if last is not None and last.content is not None:
                access.check("read", res_type, last.content, f"{res_type}/{res_id}")
        raise Gone(
            f"{res_type}/{res_id} was deleted (version {row.version})",
            headers={"ETag": f'W/"{row.version}"'},
        )
    access.check("read", res_type, row.content, f"{res_type}/{res_id}")
    return Outcome(200, raw=row.content, version=row.version, last_updated=row.last_updated)


async def vread(conn: Conn, res_type: str, res_id: str, version_id: str) -> Outcome:
    check_type(res_type)
    access.require("vread", res_type)
    check_id(res_id)
    if not version_id.isdigit():
        raise NotFound(f"{res_type}/{res_id} has no version '{version_id}' (versions are 1, 2, 3, ...)")
    row = await repository.vread(conn, res_type, res_id, int(version_id))
    if row is None:
        if not await repository.exists_any_version(conn, res_type, res_id):
            raise NotFound(f"{res_type}/{res_id} is not known")
        raise NotFound(f"{res_type}/{res_id} has no version {version_id}")
    if row.method == "DELETE":
        raise Gone(f"Version {version_id} of {res_type}/{res_id} is a deletion")
    access.check("vread", res_type, row.content, f"{res_type}/{res_id}/_history/{version_id}")
    return Outcome(200, raw=row.content, version=row.version, last_updated=row.last_updated)
