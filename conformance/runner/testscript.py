"""Running FHIR TestScripts (http://hl7.org/fhir/R4/testscript.html) against a server.

Supported: fixtures (contained resources, or resources given by the caller by reference), with
``autocreate``/``autodelete``; variables (``defaultValue``, ``expression`` or ``headerField`` on a
fixture or response, ``${name}`` substitution); setup, tests and teardown; operations (create,
read, vread, update, delete, search, history, transaction, batch, or any ``url``/``method``) with
``params``, ``sourceId``, ``targetId``, ``responseId`` and request headers; asserts on ``response``,
``responseCode``, ``resource``, ``contentType``, ``headerField`` and FHIRPath ``expression`` with
the R4 operators. Each test is one check; a failing setup fails every test; teardown always runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.runner.client import Fhir, json_of
from conformance.runner.results import Failed, Report, checking
from fhir_server import fhirpath
from fhir_server.fhirpath import FHIRPathError

Json = dict[str, Any]
RESPONSES = {
    "okay": 200,
    "created": 201,
    "noContent": 204,
    "notModified": 304,
    "bad": 400,
    "forbidden": 403,
    "notFound": 404,
    "methodNotAllowed": 405,
    "conflict": 409,
    "gone": 410,
    "preconditionFailed": 412,
    "unprocessable": 422,
}
METHODS = {"create": "POST", "update": "PUT", "delete": "DELETE", "transaction": "POST", "batch": "POST"}
_VAR = re.compile(r"\$\{([A-Za-z0-9_\-]+)\}")


@dataclass(slots=True)
class State:
    fixtures: dict[str, Json] = field(default_factory=dict)
    responses: dict[str, httpx.Response] = field(default_factory=dict)
    last: httpx.Response | None = None
    created: list[str] = field(default_factory=list)


class Script:
    def __init__(self, script: Json, fhir: Fhir, given: dict[str, Json] | None = None) -> None:
        self.script, self.fhir, self.state = script, fhir, State()
        contained = {f"#{c.get('id')}": c for c in script.get("contained") or () if isinstance(c, dict)}
        for fx in script.get("fixture") or ():
            ref = str((fx.get("resource") or {}).get("reference", ""))
            res = contained.get(ref) or (given or {}).get(ref)
            if res is not None:
                self.state.fixtures[str(fx.get("id"))] = dict(res)

    def sub(self, text: str) -> str:
        return _VAR.sub(lambda m: self.variable(m.group(1)), text)

    def variable(self, name: str) -> str:
        for v in self.script.get("variable") or ():
            if v.get("name") != name:
                continue
            source = v.get("sourceId")
            if v.get("headerField"):
                resp = self.state.responses.get(str(source)) if source else self.state.last
                return resp.headers.get(str(v["headerField"]), "") if resp is not None else ""
            if v.get("expression"):
                values = self._evaluate(str(v["expression"]), self._body(source))
                if values:
                    return str(values[0])
            return str(v.get("defaultValue", ""))
        return ""

    def _body(self, source: Any) -> Json:
        if source and source in self.state.fixtures:
            return self.state.fixtures[source]
        resp = self.state.responses.get(str(source)) if source else self.state.last
        return json_of(resp) if resp is not None else {}

    @staticmethod
    def _evaluate(expression: str, resource: Json) -> list[Any]:
        try:
            return fhirpath.compile(expression).evaluate(resource)
        except FHIRPathError as exc:
            raise Failed(f"the FHIRPath expression '{expression}' could not be evaluated: {exc}") from exc

    def operation(self, op: Json) -> None:
        code = str((op.get("type") or {}).get("code", "read"))
        method = str(op.get("method") or METHODS.get(code, "GET")).upper()
        body = self.state.fixtures.get(str(op.get("sourceId"))) if op.get("sourceId") else None
        headers = {str(h.get("field")): self.sub(str(h.get("value", ""))) for h in op.get("requestHeader") or ()}
        resp = self.fhir.request(method, self._url(op, code, body), body=body, headers=headers)
        self.state.last = resp
        if op.get("responseId"):
            self.state.responses[str(op["responseId"])] = resp
            self.state.fixtures[str(op["responseId"])] = json_of(resp)
        if code == "create" and resp.status_code == 201:
            self.state.created.append(resp.headers.get("location", "").split("/_history/")[0])

    def _url(self, op: Json, code: str, body: Json | None) -> str:
        if op.get("url"):
            return self.sub(str(op["url"]))
        res_type = str(op.get("resource") or (body or {}).get("resourceType") or "")
        if code in ("transaction", "batch"):
            return ""
        target = self.state.fixtures.get(str(op.get("targetId"))) if op.get("targetId") else None
        if target is not None:
            res_type = res_type or str(target.get("resourceType"))
            return f"{res_type}/{target.get('id')}{self.sub(str(op.get('params', '')))}"
        if code == "update" and body is not None and body.get("id"):
            return f"{res_type}/{body['id']}"
        return f"{res_type}{self.sub(str(op.get('params', '')))}"

    def check(self, a: Json) -> None:
        resp = (
            self.state.responses.get(str(a.get("sourceId")))
            if a.get("sourceId") in self.state.responses
            else self.state.last
        )
        label = str(a.get("label") or a.get("description") or "assert")
        if resp is None and not a.get("sourceId"):
            raise Failed(f"{label}: no response to check")
        if "response" in a:
            _compare(label, resp.status_code if resp else None, RESPONSES.get(str(a["response"])), "equals")
        if "responseCode" in a:
            codes = [int(c) for c in str(a["responseCode"]).split(",") if c.strip().isdigit()]
            op = str(a.get("operator", "equals"))
            ok = (resp is not None and resp.status_code in codes) != (op in ("notEquals", "notIn"))
            if not ok:
                raise Failed(f"{label}: response code {resp.status_code if resp else None}, expected {op} {codes}")
        if "resource" in a:
            _compare(label, self._body(a.get("sourceId")).get("resourceType"), a["resource"], "equals")
        if "contentType" in a and resp is not None:
            require_in(label, str(a["contentType"]), resp.headers.get("content-type", ""))
        if "headerField" in a and resp is not None:
            _compare(
                label,
                resp.headers.get(str(a["headerField"])),
                self.sub(str(a.get("value", ""))),
                str(a.get("operator", "equals")),
            )
        if "expression" in a:
            values = self._evaluate(str(a["expression"]), self._body(a.get("sourceId")))
            if "value" in a:
                _compare(
                    label, values[0] if values else None, self.sub(str(a["value"])), str(a.get("operator", "equals"))
                )
            elif not (values and values != [False]):
                raise Failed(f"{label}: the expression '{a['expression']}' is not true ({values})")


def require_in(label: str, want: str, got: str) -> None:
    if want.split(";")[0].strip() not in got:
        raise Failed(f"{label}: content type {got!r}, expected {want!r}")


def _compare(label: str, actual: Any, expected: Any, operator: str) -> None:
    a, e = ("" if actual is None else str(actual).lower() if isinstance(actual, bool) else str(actual)), str(expected)
    checks = {
        "equals": a == e,
        "notEquals": a != e,
        "in": a in e.split(","),
        "notIn": a not in e.split(","),
        "contains": e in a,
        "notContains": e not in a,
        "empty": actual in (None, ""),
        "notEmpty": actual not in (None, ""),
        "greaterThan": _num(a) > _num(e),
        "lessThan": _num(a) < _num(e),
    }
    if not checks.get(operator, False):
        raise Failed(f"{label}: {actual!r} is not {operator} {expected!r}")


def _num(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        return float("nan")


def _actions(script: Script, actions: Any) -> None:
    for action in actions or ():
        if "operation" in action:
            script.operation(action["operation"])
        if "assert" in action:
            script.check(action["assert"])


def run_script(resource: Json, fhir: Fhir, report: Report, given: dict[str, Json] | None = None) -> None:
    """Run one TestScript; each of its tests becomes a check of the suite ``testscript:<name>``."""
    script = Script(resource, fhir, given)
    suite = f"testscript:{resource.get('name') or resource.get('id') or 'unnamed'}"
    setup_error = ""
    try:
        for fx in resource.get("fixture") or ():
            if fx.get("autocreate") and str(fx.get("id")) in script.state.fixtures:
                script.operation({"type": {"code": "create"}, "sourceId": fx["id"], "responseId": fx["id"]})
        _actions(script, (resource.get("setup") or {}).get("action"))
    except (Failed, httpx.HTTPError) as exc:
        setup_error = f"setup failed: {exc}"
    for i, test in enumerate(resource.get("test") or ()):
        with checking(report, suite, str(test.get("name") or f"test {i + 1}")):
            if setup_error:
                raise Failed(setup_error)
            _actions(script, test.get("action"))
    with checking(report, suite, "teardown"):
        _actions(script, (resource.get("teardown") or {}).get("action"))
        for location in script.state.created:
            if location:
                fhir.delete(location)
