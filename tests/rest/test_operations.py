"""The operations framework (R4 operations.html): levels, GET vs POST, Parameters in and out, errors."""

from __future__ import annotations

import httpx

from fhir_server.operations import OperationContext, OperationResult, operation
from fhir_server.operations.params import parameters_resource
from tests.helpers import FHIR_JSON, assert_outcome, patient


@operation("test-echo", system=True, type=True, instance=True, resource_types=("Patient",))
async def _echo(ctx: OperationContext) -> OperationResult:
    values = [("level", ("valueCode", ctx.level)), ("method", ("valueCode", ctx.method))]
    if ctx.res_id:
        values.append(("id", ("valueId", ctx.res_id)))
    for name in sorted(ctx.params.names()):
        v = ctx.params.get(name)
        values.append((name, v if isinstance(v, dict) else ("valueString", str(v))))
    return OperationResult(resource=parameters_resource(values))


@operation("test-change", type=True, affects_state=True)
async def _change(ctx: OperationContext) -> OperationResult:
    return OperationResult(status=204)


def _values(body: dict) -> dict:
    return {p["name"]: next(v for k, v in p.items() if k != "name") for p in body["parameter"]}


def test_levels_and_get_parameters(client: httpx.Client) -> None:
    assert _values(client.get("/$test-echo", params={"x": "1"}).json()) == {
        "level": "system", "method": "GET", "x": "1"}
    assert _values(client.get("/Patient/$test-echo").json())["level"] == "type"
    pid = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    got = _values(client.get(f"/Patient/{pid}/$test-echo").json())
    assert got["level"] == "instance" and got["id"] == pid


def test_post_parameters_body(client: httpx.Client) -> None:
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "count", "valueInteger": 3}, {"name": "who", "resource": patient("Param")}]}
    got = _values(client.post("/Patient/$test-echo", json=body, headers=FHIR_JSON).json())
    assert got["method"] == "POST" and got["count"] == "3"
    assert got["who"]["name"][0]["family"] == "Param"


def test_operation_errors(client: httpx.Client) -> None:
    assert_outcome(client.get("/$no-such-op"), 404)
    assert_outcome(client.get("/Observation/$test-echo"), 404)  # registered for Patient only
    assert_outcome(client.get("/Patient/does-not-exist/$test-echo"), 404)
    assert_outcome(client.get("/Patient/$test-change"), 405)  # changes data: POST only
    assert client.post("/Patient/$test-change", headers=FHIR_JSON).status_code == 204
    bad = {"resourceType": "Parameters", "parameter": [{"valueString": "nameless"}]}
    assert_outcome(client.post("/Patient/$test-echo", json=bad, headers=FHIR_JSON), 400)


def test_operations_are_in_the_capability_statement(client: httpx.Client) -> None:
    cs = client.get("/metadata").json()
    rest = cs["rest"][0]
    assert "test-echo" in {o["name"] for o in rest.get("operation", [])}
    patient_entry = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert "test-echo" in {o["name"] for o in patient_entry.get("operation", [])}


def test_reindex_operation(client: httpx.Client) -> None:
    client.post("/Patient", json=patient("Reind"), headers=FHIR_JSON)
    got = client.post("/Patient/$reindex", headers=FHIR_JSON)
    assert got.status_code == 200
    count = got.json()["parameter"][0]["valueInteger"]
    assert count >= 1
    assert client.get("/Patient", params={"family": "Reind"}).json()["total"] >= 1
    assert_outcome(client.get("/Patient/$reindex"), 405)  # changes data: POST only
