"""SMART App Launch 2.x discovery (``/.well-known/smart-configuration``), OpenID Connect Discovery 1.0
§3 (``/.well-known/openid-configuration``) and the RFC 7517 JWK Set of the server's signing keys.

The capabilities listed are the ones this server implements end to end; nothing is advertised that
a client could not use.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smart_auth.client_auth import ALGORITHMS
from smart_auth.http import layer, server_base

Json = dict[str, Any]
CAPABILITIES = [
    "launch-ehr", "launch-standalone", "authorize-post",
    "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
    "context-passthrough-banner", "context-passthrough-style",
    "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
    "sso-openid-connect", "permission-offline", "permission-online",
    "permission-patient", "permission-user", "permission-v1", "permission-v2",
]
SCOPES = ["openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter", "offline_access",
          "online_access", "patient/*.cruds", "user/*.cruds", "system/*.cruds", "patient/*.read", "user/*.read",
          "system/*.read", "patient/*.write", "user/*.write", "system/*.write"]
AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "client_secret_post", "none"]
GRANTS = ["authorization_code", "refresh_token", "client_credentials"]
STYLE = {"color_background": "#edeae3", "color_error": "#9e2d2d", "color_highlight": "#69b5ce",
         "color_modal_backdrop": "", "color_success": "#498e49", "color_text": "#303030",
         "dim_border_radius": "6px", "dim_font_size": "13px", "dim_spacing_size": "20px",
         "font_family_body": "Georgia, Times, 'Times New Roman', serif",
         "font_family_heading": "'HelveticaNeue-Light', Helvetica, Arial, 'Lucida Grande', sans-serif"}


def endpoints(base: str) -> Json:
    return {
        "issuer": base,
        "jwks_uri": f"{base}/auth/jwks",
        "authorization_endpoint": f"{base}/auth/authorize",
        "token_endpoint": f"{base}/auth/token",
        "introspection_endpoint": f"{base}/auth/introspect",
        "revocation_endpoint": f"{base}/auth/revoke",
        "registration_endpoint": f"{base}/auth/register",
    }


def _json(body: Json) -> Response:
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


async def smart_configuration(request: Request) -> Response:
    base = server_base(request)
    return _json({
        **endpoints(base),
        "grant_types_supported": GRANTS,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                          "private_key_jwt", "bearer"],
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "capabilities": CAPABILITIES,
    })


async def openid_configuration(request: Request) -> Response:
    base = server_base(request)
    return _json({
        **endpoints(base),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile", "offline_access"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
        "grant_types_supported": GRANTS,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
    })


async def jwks(request: Request) -> Response:
    return _json(layer(request).ring.jwks())


async def smart_style(request: Request) -> Response:
    return _json(STYLE)
