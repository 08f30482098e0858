"""The CapabilityStatement's conformance claims (http://hl7.org/fhir/R4/capabilitystatement.html#instantiates).

The statement is generated from the code (``fhir_server.interactions.capabilities``); this adds that
the server instantiates the R4 base server statement, the system search the routes serve (which the
base statement has and the generated list of system interactions lacks), and the profiles the server
enforces on write (``rest.resource.supportedProfile``). ``fhir-conformance`` checks the claims against behaviour.
"""

from __future__ import annotations

import os
from typing import Any

from conformance.server import ENV, parse_enforced
from fhir_server.interactions import capabilities

BASE = "http://hl7.org/fhir/CapabilityStatement/base"


def decorate(cs: dict[str, Any]) -> None:
    cs["instantiates"] = [BASE]
    for rest in cs.get("rest") or ():
        interactions = rest.setdefault("interaction", [])
        if not any(i.get("code") == "search-system" for i in interactions):
            interactions.append({"code": "search-system"})  # GET [base]?… is served (rest/routes.py)
    enforced = parse_enforced(os.environ.get(ENV, ""))
    for rest in cs.get("rest") or ():
        for entry in rest.get("resource") or ():
            profiles = enforced.get(entry.get("type"))
            if profiles:
                entry["supportedProfile"] = list(profiles)


capabilities.register_decorator(decorate)
