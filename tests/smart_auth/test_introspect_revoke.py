"""Introspection (RFC 7662) and revocation (RFC 7009); revocation holds at once in every server process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import LiveServer, _free_port
from tests.helpers import wait_until_up
from tests.smart_auth.conftest import ADMIN, REDIRECT, add_user, bearer, code_flow, create, error_of, register, token


@pytest.fixture(scope="module")
def confidential(auth: LiveServer) -> dict[str, str]:
    client = register(auth, token_endpoint_auth_method="client_secret_basic")
    assert client["client_secret"]
    return client


def _introspect(auth: LiveServer, value: str, client: dict[str, str]) -> dict[str, object]:
    resp = httpx.post(f"{auth.base}/auth/introspect", data={"token": value},
                      auth=(client["client_id"], client["client_secret"]))
    assert resp.status_code == 200, resp.text
    body: dict[str, object] = resp.json()
    return body


def test_introspection(auth: LiveServer, confidential: dict[str, str]) -> None:
    pat = create(auth, {"resourceType": "Patient"})
    tok = token(auth, "patient/*.rs", patient=pat["id"])
    body = _introspect(auth, tok, confidential)
    assert body["active"] is True and body["scope"] == "patient/*.rs" and body["patient"] == pat["id"]
    assert isinstance(body["exp"], int) and body["exp"] > time.time() and body["token_type"] == "Bearer"
    assert _introspect(auth, token(auth, "user/*.rs", seconds=-5), confidential) == {"active": False}
    assert _introspect(auth, "garbage", confidential) == {"active": False}
    # the caller must be authorized (RFC 7662 §2.1)
    error_of(httpx.post(f"{auth.base}/auth/introspect", data={"token": tok}), 401, "invalid_client")
    error_of(httpx.post(f"{auth.base}/auth/introspect", data={"token": tok},
                        auth=(confidential["client_id"], "wrong")), 401, "invalid_client")
    by_bearer = httpx.post(f"{auth.base}/auth/introspect", data={"token": tok}, headers=bearer(ADMIN))
    assert by_bearer.json()["active"] is True


def test_revoked_access_token_stops_working_in_every_process(auth: LiveServer, confidential: dict[str, str]) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": auth.db.url}
    env.pop("FHIR_AUTH_DISABLED", None)
    other = subprocess.Popen([sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        second = f"http://127.0.0.1:{port}"
        wait_until_up(f"{second}/metadata", other, message="second server did not start")
        pat = create(auth, {"resourceType": "Patient"})
        user = add_user(auth, "Practitioner/revoker")
        back, verifier = code_flow(auth, confidential["client_id"], user, "launch/patient offline_access patient/*.rs",
                                   patient=pat["id"])
        tokens = httpx.post(f"{auth.base}/auth/token", auth=(confidential["client_id"], confidential["client_secret"]),
                            data={"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                                  "code_verifier": verifier}).json()
        # the second process checks tokens for its own base URL: mint one for it, and use the first one here
        theirs = token(auth, "user/*.rs")
        mine = tokens["access_token"]
        assert httpx.get(f"{auth.base}/Patient/{pat['id']}", headers=bearer(mine)).status_code == 200
        revoke = httpx.post(f"{auth.base}/auth/revoke", data={"token": mine},
                            auth=(confidential["client_id"], confidential["client_secret"]))
        assert revoke.status_code == 200
        assert httpx.get(f"{auth.base}/Patient/{pat['id']}", headers=bearer(mine)).status_code == 401
        assert _introspect(auth, mine, confidential) == {"active": False}
        # a token revoked through one process is refused by the other at once
        from fhir_server.config import Settings
        from smart_auth.cli import mint
        from tests.smart_auth.conftest import run_db

        for_second = run_db(auth, lambda conn: mint(conn, Settings(), "user/*.rs", second, 600,
                                                    client_id=confidential["client_id"]))
        assert httpx.get(f"{second}/Patient/{pat['id']}", headers=bearer(for_second)).status_code == 200
        httpx.post(f"{second}/auth/revoke", data={"token": for_second},
                   auth=(confidential["client_id"], confidential["client_secret"])).raise_for_status()
        assert httpx.get(f"{second}/Patient/{pat['id']}", headers=bearer(for_second)).status_code == 401
        assert httpx.get(f"{auth.base}/Patient/{pat['id']}", headers=bearer(theirs)).status_code == 200
        # revoking the refresh token revokes its grant: refresh refused
        httpx.post(f"{second}/auth/revoke", data={"token": tokens["refresh_token"]},
                   auth=(confidential["client_id"], confidential["client_secret"])).raise_for_status()
        error_of(httpx.post(f"{auth.base}/auth/token", data={"grant_type": "refresh_token",
                                                            "refresh_token": tokens["refresh_token"]},
                            auth=(confidential["client_id"], confidential["client_secret"])), 400, "invalid_grant")
    finally:
        other.terminate()
        other.wait(30)


def test_revocation_rules(auth: LiveServer, confidential: dict[str, str]) -> None:
    mine = token(auth, "user/*.rs")  # issued to the CLI's client id, not to this client
    refused = httpx.post(f"{auth.base}/auth/revoke", data={"token": mine},
                         auth=(confidential["client_id"], confidential["client_secret"]))
    error_of(refused, 400, "unauthorized_client")
    ok = httpx.post(f"{auth.base}/auth/revoke", data={"token": "unknown-token"},
                    auth=(confidential["client_id"], confidential["client_secret"]))
    assert ok.status_code == 200  # RFC 7009 §2.2: an invalid token is not an error
    error_of(httpx.post(f"{auth.base}/auth/revoke", data={"token": mine}), 401, "invalid_client")
    error_of(httpx.post(f"{auth.base}/auth/revoke", data={}, auth=(confidential["client_id"],
                                                                   confidential["client_secret"])), 400,
             "invalid_request")
