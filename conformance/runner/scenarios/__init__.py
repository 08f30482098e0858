"""The runner's scenario suites (http://hl7.org/fhir/R4/http.html, search.html, smart-app-launch).

Every suite is a function ``(run: Run) -> None`` that records checks in ``run.report``. Data a suite
creates carries the run's unique tag (``meta.tag``) and is deleted at the end of the run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from conformance.runner.client import Fhir, json_of
from conformance.runner.results import Failed, Report

Json = dict[str, Any]
TAG_SYSTEM = "urn:fhir-conformance:run"


@dataclass(slots=True)
class Run:
    fhir: Fhir
    report: Report
    tag: str = field(default_factory=lambda: "run-" + uuid.uuid4().hex[:12])
    created: list[str] = field(default_factory=list)  # Type/id to delete at the end
    _statement: Json | None = None

    def tagged(self, resource: Json) -> Json:
        """``resource`` carrying the run's tag."""
        meta = dict(resource.get("meta") or {})
        meta["tag"] = [*meta.get("tag", []), {"system": TAG_SYSTEM, "code": self.tag}]
        return {**resource, "meta": meta}

    def create(self, resource: Json) -> Json:
        """Create a tagged resource and remember it for clean-up; the created resource is returned."""
        resp = self.fhir.post(resource["resourceType"], self.tagged(resource), {"Prefer": "return=representation"})
        if resp.status_code != 201:
            raise Failed(
                f"create {resource['resourceType']} answered {resp.status_code}, 201 expected: {resp.text[:200]}"
            )
        body = json_of(resp)
        rid = body.get("id") or _id_from_location(resp.headers.get("location", ""))
        if not rid:
            raise Failed(f"create {resource['resourceType']} gave neither a body with an id nor a Location")
        self.created.append(f"{resource['resourceType']}/{rid}")
        return body if body.get("id") else {**resource, "id": rid}

    def statement(self) -> Json:
        if self._statement is None:
            self._statement = json_of(self.fhir.get("metadata"))
        return self._statement

    def cleanup(self) -> None:
        for ref in reversed(self.created):
            self.fhir.delete(ref)
        self.created.clear()


def _id_from_location(location: str) -> str | None:
    parts = location.split("/_history/")[0].rstrip("/").split("/")
    return parts[-1] if len(parts) >= 2 else None


def outcome_ok(body: Json) -> bool:
    return body.get("resourceType") == "OperationOutcome" and bool(body.get("issue"))
