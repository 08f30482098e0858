"""Dynamic client registration (RFC 7591 §3) and the EHR launch endpoint (SMART App Launch 2.x EHR launch).

Both are for the operator (or the EHR) and take the admin token as a bearer token (RFC 7591's
"initial access token"). Registration maps the metadata to a client kind: ``none`` → public,
``client_secret_*`` → confidential, ``private_key_jwt`` → confidential, or backend when the
grant types are ``client_credentials``. The launch endpoint stores a launch context (patient,
encounter, fhirContext, banner and style hints) and returns the opaque ``launch`` value the EHR
passes to the app.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.interactions.common import ID_RE
from smart_auth import clients, grants
from smart_auth.clients import Client
from smart_auth.errors import InvalidClientMetadata, InvalidRequest
from smart_auth.http import MAX_FORM, answer, check_admin, endpoint, layer

Json = dict[str, Any]
REFERENCE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")


async def _json_body(request: Request, error: type[InvalidRequest] | type[InvalidClientMetadata]) -> Json:
    raw = await request.body()
    if len(raw) > MAX_FORM:
        raise error(f"the body is larger than {MAX_FORM} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise error("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise error("the body must be a JSON object")
    return data


def _strings(data: Json, key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClientMetadata(f"{key} must be an array of strings")
    return list(value)


def _kind(method: str, grant_types: list[str]) -> str:
    if "client_credentials" in grant_types:
        if set(grant_types) != {"client_credentials"}:
            raise InvalidClientMetadata("client_credentials cannot be combined with other grant types")
        return "backend"
    if not set(grant_types) <= {"authorization_code", "refresh_token"}:
        raise InvalidClientMetadata("grant_types may be authorization_code, refresh_token or client_credentials")
    return "public" if method == "none" else "confidential"


@endpoint
async def register(request: Request) -> Response:
    check_admin(request)
    data = await _json_body(request, InvalidClientMetadata)
    method = data.get("token_endpoint_auth_method", "client_secret_basic")
    grant_types = _strings(data, "grant_types") or ["authorization_code"]
    if not isinstance(method, str):
        raise InvalidClientMetadata("token_endpoint_auth_method must be a string")
    if _strings(data, "response_types") not in ([], ["code"]):
        raise InvalidClientMetadata("response_types may only be [\"code\"]")
    kind = _kind(method, grant_types)
    name, scope = data.get("client_name", ""), data.get("scope", clients.DEFAULT_SCOPE[kind])
    jwks, jwks_uri = data.get("jwks"), data.get("jwks_uri")
    if not isinstance(name, str) or not isinstance(scope, str):
        raise InvalidClientMetadata("client_name and scope must be strings")
    if (jwks is not None and not isinstance(jwks, dict)) or (jwks_uri is not None and not isinstance(jwks_uri, str)):
        raise InvalidClientMetadata("jwks must be a JWK Set object and jwks_uri a URL")
    client = Client("", name or "unnamed client", kind, method, scope, _strings(data, "redirect_uris"), None,
                    jwks, jwks_uri)
    async with layer(request).server.pool.connection() as conn:
        secret = await clients.register(conn, client)
    body = {**client.metadata(), "client_id_issued_at": int(time.time())}
    if secret is not None:
        body.update({"client_secret": secret, "client_secret_expires_at": 0})
    return answer(body, 201)


def launch_context(data: Json) -> Json:
    """The context of an EHR launch from {"patient", "encounter", "fhirContext": ["Type/id"], ...}."""
    context: Json = {}
    for key in ("patient", "encounter"):
        value = data.get(key)
        if value is not None:
            if not isinstance(value, str) or not ID_RE.fullmatch(value):
                raise InvalidRequest(f"{key} must be a resource id")
            context[key] = value
    refs = data.get("fhirContext", [])
    if not isinstance(refs, list) or not all(isinstance(r, str) and REFERENCE.fullmatch(r) for r in refs):
        raise InvalidRequest("fhirContext must be a list of relative references (Type/id)")
    if refs:
        context["fhirContext"] = [{"reference": r} for r in refs]
    context["need_patient_banner"] = bool(data.get("need_patient_banner", False))
    for key in ("intent", "smart_style_url"):
        if isinstance(data.get(key), str):
            context[key] = data[key]
    return context


@endpoint
async def launch(request: Request) -> Response:
    """POST {"patient": id, "encounter": id, "fhirContext": ["Type/id"...], "client_id": ...} → {"launch": ...}."""
    check_admin(request)
    data = await _json_body(request, InvalidRequest)
    context = launch_context(data)
    client_id = data.get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        raise InvalidRequest("client_id must be a string")
    auth = layer(request)
    async with auth.server.pool.connection() as conn:
        value = await grants.save_launch(conn, context, client_id, auth.config.launch_seconds)
    return answer({"launch": value, "expires_in": auth.config.launch_seconds}, 201)
