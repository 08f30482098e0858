"""SMART on FHIR discovery (https://hl7.org/fhir/smart-app-launch/conformance.html): the
``.well-known/smart-configuration`` document, and its agreement with the CapabilityStatement's
``rest.security`` (the SMART-on-FHIR service and the oauth-uris extension)."""

from __future__ import annotations

import httpx

from conformance.runner.client import json_of
from conformance.runner.results import Skipped, require, run_checks
from conformance.runner.scenarios import Json, Run

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def _security(cs: Json) -> Json:
    rest = (cs.get("rest") or [{}])[0]
    return rest.get("security") or {}


def _declares_smart(cs: Json) -> bool:
    services = _security(cs).get("service") or ()
    return any(c.get("code") == "SMART-on-FHIR" for s in services for c in s.get("coding") or ())


def _oauth_uris(cs: Json) -> dict[str, str]:
    for ext in _security(cs).get("extension") or ():
        if ext.get("url") == OAUTH_URIS:
            return {e.get("url"): e.get("valueUri") for e in ext.get("extension") or () if e.get("valueUri")}
    return {}


def suite(run: Run) -> None:
    f = run.fhir
    state: Json = {}

    def discovery() -> None:
        resp = f.get(".well-known/smart-configuration", headers={"Accept": "application/json"})
        declared = _declares_smart(run.statement())
        if resp.status_code == 404 and not declared:
            raise Skipped("no SMART configuration, and the CapabilityStatement does not claim SMART-on-FHIR")
        require(
            resp.status_code == 200,
            f".well-known/smart-configuration answered {resp.status_code}"
            + (" although the statement claims SMART-on-FHIR" if declared else ""),
        )
        conf = json_of(resp)
        require(isinstance(conf.get("token_endpoint"), str), "the SMART configuration must give a token_endpoint")
        require(isinstance(conf.get("capabilities"), list), "the SMART configuration must list capabilities")
        state["conf"] = conf

    def agrees() -> None:
        if "conf" not in state:
            raise Skipped("no SMART configuration to compare")
        cs = run.statement()
        require(
            _declares_smart(cs),
            "the server publishes a SMART configuration but its statement does not "
            "name the SMART-on-FHIR security service",
        )
        uris = _oauth_uris(cs)
        if uris.get("token"):
            require(
                uris["token"] == state["conf"]["token_endpoint"],
                f"the statement's token URI {uris['token']} differs from discovery's {state['conf']['token_endpoint']}",
            )

    def protected() -> None:
        if not _declares_smart(run.statement()):
            raise Skipped("the server does not claim SMART authorization")
        anonymous = httpx.get(f.url("Patient"), headers={"Accept": "application/fhir+json"}, timeout=30)
        require(
            anonymous.status_code in (401, 403),
            f"a search without a token answered {anonymous.status_code}, 401 expected",
        )

    run_checks(
        run.report,
        "smart",
        [
            ("SMART configuration is published", discovery),
            ("discovery agrees with the statement", agrees),
            ("requests without a token are refused", protected),
        ],
    )
