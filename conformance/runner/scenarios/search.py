"""Search semantics (http://hl7.org/fhir/R4/search.html) on data the run creates under its own tag:
string, token, date, reference parameters, ``_tag``, ``_count`` paging, ``_sort``, ``_include``,
the :exact/:contains/:missing modifiers, chains and ``_has``, ``_summary=count``."""

from __future__ import annotations

from typing import Any

from conformance.runner.client import json_of
from conformance.runner.results import require, run_checks
from conformance.runner.scenarios import TAG_SYSTEM, Json, Run


def _ids(bundle: Json, mode: str = "match") -> list[str]:
    out = []
    for e in bundle.get("entry") or ():
        res = e.get("resource") or {}
        if (e.get("search") or {}).get("mode", "match") == mode and res.get("resourceType") != "OperationOutcome":
            out.append(str(res.get("id")))
    return out


def suite(run: Run) -> None:
    f = run.fhir
    fam = "Conf" + run.tag[4:12].capitalize()
    tag = f"{TAG_SYSTEM}|{run.tag}"
    data: dict[str, Any] = {}

    def setup() -> None:
        for key, gender, born in (
            ("Alpha", "male", "1950-01-01"),
            ("Beta", "female", "1980-06-15"),
            ("Gamma", "female", "2001-12-31"),
        ):
            data[key] = run.create(
                {"resourceType": "Patient", "name": [{"family": fam + key}], "gender": gender, "birthDate": born}
            )["id"]
        obs = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{data['Beta']}"},
            "valueQuantity": {"value": 72, "unit": "/min"},
        }
        data["obs"] = run.create(obs)["id"]

    def search(query: dict[str, str], res_type: str = "Patient") -> Json:
        resp = f.get(res_type, params=query)
        require(resp.status_code == 200, f"{res_type}?{query} answered {resp.status_code}: {resp.text[:200]}")
        body = json_of(resp)
        require(
            body.get("resourceType") == "Bundle" and body.get("type") == "searchset",
            "a search answers a searchset Bundle",
        )
        return body

    def expect(query: dict[str, str], keys: list[str], res_type: str = "Patient") -> None:
        require(all(k in data for k in keys), "the test data could not be created (see the first check)")
        got = sorted(_ids(search(query, res_type)))
        want = sorted(data[k] for k in keys)
        require(got == want, f"{res_type}?{query}: expected {want}, found {got}")

    def by_tag() -> None:
        expect({"_tag": tag}, ["Alpha", "Beta", "Gamma"])

    def string() -> None:
        expect({"family": (fam + "al").lower()}, ["Alpha"])  # starts-with, case-insensitive

    def token() -> None:
        expect({"_tag": tag, "gender": "female"}, ["Beta", "Gamma"])

    def dates() -> None:
        expect({"_tag": tag, "birthdate": "ge1980-01-01"}, ["Beta", "Gamma"])
        expect({"_tag": tag, "birthdate": "lt1980-01-01"}, ["Alpha"])
        expect({"_tag": tag, "birthdate": "1980-06"}, ["Beta"])

    def reference() -> None:
        expect({"subject": f"Patient/{data['Beta']}"}, ["obs"], "Observation")
        expect({"patient": data["Beta"], "code": "http://loinc.org|8867-4"}, ["obs"], "Observation")

    def paging() -> None:
        require(len(data) == 4, "the test data could not be created (see the first check)")
        first = search({"_tag": tag, "_count": "2"})
        require(len(_ids(first)) == 2, "_count=2 must give a page of 2")
        nxt = next((link["url"] for link in first.get("link") or () if link.get("relation") == "next"), None)
        require(nxt is not None, "a page with more results must link to the next page")
        second = json_of(f.get(str(nxt)))
        ids = _ids(first) + _ids(second)
        require(
            sorted(ids) == sorted(data[k] for k in ("Alpha", "Beta", "Gamma")),
            f"the pages must hold each match once: {ids}",
        )

    def sort() -> None:
        require(len(data) == 4, "the test data could not be created (see the first check)")
        up = _ids(search({"_tag": tag, "_sort": "birthdate"}))
        require(up == [data["Alpha"], data["Beta"], data["Gamma"]], f"_sort=birthdate gave {up}")
        down = _ids(search({"_tag": tag, "_sort": "-birthdate"}))
        require(down == list(reversed(up)), f"_sort=-birthdate gave {down}")

    def include() -> None:
        require(len(data) == 4, "the test data could not be created (see the first check)")
        body = search({"_tag": tag, "_include": "Observation:subject"}, "Observation")
        require(_ids(body) == [data["obs"]], "the match is the Observation")
        require(
            data["Beta"] in _ids(body, "include"), "_include=Observation:subject must add the Patient (mode include)"
        )

    def modifiers() -> None:
        expect({"_tag": tag, "family:exact": fam + "Beta"}, ["Beta"])
        expect({"_tag": tag, "family:exact": (fam + "Beta").lower()}, [])  # :exact is case-sensitive
        expect({"_tag": tag, "family:contains": "amm"}, ["Gamma"])
        expect({"_tag": tag, "telecom:missing": "true", "gender": "male"}, ["Alpha"])
        expect({"_tag": tag, "birthdate:missing": "false"}, ["Alpha", "Beta", "Gamma"])

    def chains() -> None:
        expect({"subject:Patient.family": fam + "Beta"}, ["obs"], "Observation")
        expect({"_tag": tag, "_has:Observation:subject:code": "http://loinc.org|8867-4"}, ["Beta"])

    def summary_count() -> None:
        require(all(k in data for k in ("Alpha", "Beta", "Gamma")), "the test data could not be created")
        body = search({"_tag": tag, "_summary": "count"})
        require(body.get("total") == 3, f"_summary=count must give total 3, got {body.get('total')}")
        require(not _ids(body), "_summary=count returns no entries")

    run_checks(
        run.report,
        "search",
        [
            ("create tagged test data", setup),
            ("_tag finds exactly the run's data", by_tag),
            ("string: starts-with, case-insensitive", string),
            ("token: code", token),
            ("date: ge, lt and partial dates", dates),
            ("reference: subject and patient", reference),
            ("_count pages with a next link", paging),
            ("_sort ascending and descending", sort),
            ("_include adds the referenced resource", include),
            (":exact, :contains, :missing", modifiers),
            ("chained parameters and _has", chains),
            ("_summary=count", summary_count),
        ],
    )
