"""REST semantics (http://hl7.org/fhir/R4/http.html): create, read, vread, update, If-Match, delete,
history, and errors as OperationOutcomes with the right status."""

from __future__ import annotations

from conformance.runner.client import json_of
from conformance.runner.results import require, run_checks
from conformance.runner.scenarios import Json, Run, outcome_ok


def _patient(family: str) -> Json:
    return {"resourceType": "Patient", "name": [{"family": family, "given": ["Conformance"]}], "gender": "other"}


def suite(run: Run) -> None:
    state: Json = {}
    f = run.fhir

    def need(key: str) -> None:
        require(key in state, "an earlier step failed, so this one can't run (see above)")

    def create() -> None:
        resp = f.post("Patient", run.tagged(_patient("Rest")))
        require(resp.status_code == 201, f"create answered {resp.status_code}, 201 expected (http.html#create)")
        loc = resp.headers.get("location", "")
        require(
            "/Patient/" in loc and "/_history/" in loc,
            f"Location must be [base]/Patient/[id]/_history/[vid], got '{loc}'",
        )
        require(bool(resp.headers.get("etag")), "create must return an ETag")
        rid = loc.split("/Patient/")[1].split("/")[0]
        run.created.append(f"Patient/{rid}")
        state["id"] = rid

    def read() -> None:
        need("id")
        resp = f.get(f"Patient/{state['id']}")
        body = json_of(resp)
        require(resp.status_code == 200, f"read answered {resp.status_code}")
        require(body.get("id") == state["id"], "read returned another resource")
        version = (body.get("meta") or {}).get("versionId")
        require(bool(version), "a read resource must carry meta.versionId")
        require(resp.headers.get("etag", "").strip('W/"') == str(version), 'ETag must be W/"versionId"')
        state["resource"], state["version"] = body, str(version)

    def update() -> None:
        need("resource")
        body = {**state["resource"], "gender": "female"}
        resp = f.put(f"Patient/{state['id']}", body, {"If-Match": f'W/"{state["version"]}"'})
        require(resp.status_code == 200, f"update answered {resp.status_code}, 200 expected")
        after = json_of(f.get(f"Patient/{state['id']}"))
        require(after.get("gender") == "female", "the update was not stored")
        require(str((after.get("meta") or {}).get("versionId")) != state["version"], "update must make a new version")
        state["resource"] = after

    def stale_if_match() -> None:
        need("resource")
        resp = f.put(f"Patient/{state['id']}", state["resource"], {"If-Match": f'W/"{state["version"]}"'})
        require(resp.status_code == 412, f"an update with a stale If-Match answered {resp.status_code}, 412 expected")

    def vread() -> None:
        need("version")
        resp = f.get(f"Patient/{state['id']}/_history/{state['version']}")
        require(resp.status_code == 200, f"vread of the first version answered {resp.status_code}")
        require(json_of(resp).get("gender") == "other", "vread must return the version asked for")

    def history() -> None:
        need("id")
        body = json_of(f.get(f"Patient/{state['id']}/_history"))
        require(body.get("type") == "history", "instance history must be a Bundle of type history")
        require(len(body.get("entry") or []) >= 2, "instance history must list both versions")

    def delete() -> None:
        need("id")
        resp = f.delete(f"Patient/{state['id']}")
        require(resp.status_code in (200, 202, 204), f"delete answered {resp.status_code}")
        gone = f.get(f"Patient/{state['id']}")
        require(gone.status_code in (404, 410), f"read after delete answered {gone.status_code}, 410 or 404 expected")

    def errors() -> None:
        unknown = f.get("NoSuchType/1")
        require(unknown.status_code in (400, 404), f"an unknown type answered {unknown.status_code}")
        missing = f.get("Patient/does-not-exist-" + run.tag)
        require(
            missing.status_code == 404 and outcome_ok(json_of(missing)),
            "a missing resource: 404 with an OperationOutcome",
        )
        bad = f.post("Patient", {"resourceType": "Patient", "gender": 12})
        require(bad.status_code in (400, 422), f"an invalid resource answered {bad.status_code}, 400/422 expected")
        require(outcome_ok(json_of(bad)), "a rejected write must explain itself in an OperationOutcome")

    run_checks(
        run.report,
        "rest",
        [
            ("create returns 201, Location and ETag", create),
            ("read returns the resource and its version", read),
            ("update with If-Match makes a new version", update),
            ("update with a stale If-Match is 412", stale_if_match),
            ("vread returns an older version", vread),
            ("instance history lists the versions", history),
            ("delete, then read is 410/404", delete),
            ("errors are OperationOutcomes with 4xx", errors),
        ],
    )
