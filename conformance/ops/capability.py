"""The CapabilityStatement's conformance claims (http://hl7.org/fhir/R4/capabilitystatement.html#instantiates).

The statement is generated from the code (``fhir_server.interactions.capabilities``); this adds that
the server instantiates the R4 base server statement, and the profiles the server enforces on write
(``rest.resource.supportedProfile``). ``fhir-conformance`` checks the claims against behaviour.
"""

from __future__ import annotations

import os
from typing import Any

from conformance.server import ENV, parse_enforced
from fhir_server.interactions import capabilities

BASE = "http://hl7.org/fhir/CapabilityStatement/base"


def decorate(cs: dict[str, Any]) -> None:
    cs["instantiates"] = [BASE]
    enforced = parse_enforced(os.environ.get(ENV, ""))
    for rest in cs.get("rest") or ():
        for entry in rest.get("resource") or ():
            profiles = enforced.get(entry.get("type"))
            if profiles:
                entry["supportedProfile"] = list(profiles)


capabilities.register_decorator(decorate)
