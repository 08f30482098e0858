"""Geography against the fake Google Maps: ``fhir-server import places``, ``$geocode`` with its cache, and the
imported places found by ``Location?near``."""

from __future__ import annotations

import httpx
import pytest

from fhir_server import cli
from mappers import maps
from tests.conftest import LiveServer
from tests.extensions.scheduling.clinic import create, read
from tests.fixtures.fake_maps import FakeMaps
from tests.helpers import FHIR_JSON, assert_outcome


def run_import(live: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
               *args: str) -> tuple[int, str]:
    s = live.settings
    monkeypatch.setenv("GOOGLE_MAPS_API_KEY", str(s.google_maps_api_key))
    monkeypatch.setenv("GOOGLE_MAPS_BASE_URL", s.google_maps_base_url)
    monkeypatch.setenv("GOOGLE_PLACES_BASE_URL", s.google_places_base_url)
    code = cli.main(["import", "places", *args, "--database-url", str(s.database_url)])
    return code, capsys.readouterr().out


def _place(c: httpx.Client, place_id: str, res_type: str = "Location") -> dict:
    bundle = c.get(f"/{res_type}", params={"identifier": f"{maps.PLACE_ID}|{place_id}"}).json()
    found = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
    assert len(found) == 1, bundle
    return found[0]


def test_import_places_near_a_point(sched: LiveServer, c: httpx.Client, maps_fake: FakeMaps,
                                    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    maps_fake.add_place("ChIJfakeHospital01", "Lower Manhattan Hospital", 40.7103, -74.0049, ["hospital", "health"],
                        "170 William St, New York, NY 10038, USA")
    maps_fake.add_place("ChIJfakeHospital02", "Far Away Hospital", 41.5, -74.0, ["hospital"], "Somewhere, NY")
    code, out = run_import(sched, monkeypatch, capsys, "--near", "40.7199,-74.0031", "--radius", "2000",
                           "--type", "hospital")
    assert code == 0, out
    assert "places: created 2, updated 0, unchanged 0, failed 0" in out  # Organization + Location
    loc = _place(c, "ChIJfakeHospital01")
    assert loc["name"] == "Lower Manhattan Hospital" and loc["status"] == "active"
    assert loc["position"] == {"latitude": 40.7103, "longitude": -74.0049}
    assert loc["type"][0]["coding"][0]["code"] == "HOSP"
    org = read(c, loc["managingOrganization"]["reference"])
    assert org["name"] == "Lower Manhattan Hospital"
    near = c.get("/Location", params={"near": "40.7199|-74.0031|2|km"}).json()
    assert loc["id"] in {e["resource"]["id"] for e in near["entry"] if e["search"]["mode"] == "match"}
    code, out = run_import(sched, monkeypatch, capsys, "--near", "40.7199,-74.0031", "--radius", "2000",
                           "--type", "hospital")
    assert "places: created 0, updated 0, unchanged 2, failed 0" in out


def test_import_places_legacy_api_and_text_search(sched: LiveServer, c: httpx.Client, maps_fake: FakeMaps,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_import(sched, monkeypatch, capsys, "--near", "40.7199,-74.0031", "--radius", "1500",
                           "--type", "doctor", "--api", "legacy")
    assert code == 0 and "failed 0" in out, out
    canal = _place(c, "ChIJFAKEplaceid0000000001")  # from the legacy details sample
    assert canal["name"] == "Canal Family Health" and canal["position"]["latitude"] == 40.72094
    code, out = run_import(sched, monkeypatch, capsys, "--near", "0,0", "--radius", "1", "--query", "pediatrics")
    assert code == 0, out
    peds = _place(c, "ChIJFAKEplaceid0000000004")
    assert peds["address"]["city"] == "Hoboken" and peds["address"]["state"] == "NJ"
    assert peds["address"]["line"] == ["77 Invented Road"] and peds["address"]["postalCode"] == "07030"


def test_import_places_reports_api_errors(sched: LiveServer, maps_fake: FakeMaps, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOOGLE_MAPS_API_KEY", "wrong-key")
    s = sched.settings
    monkeypatch.setenv("GOOGLE_PLACES_BASE_URL", s.google_places_base_url)
    code = cli.main(["import", "places", "--near", "40.7,-74.0", "--radius", "100",
                     "--database-url", str(s.database_url)])
    err = capsys.readouterr().err
    assert code == 1 and "403" in err


def test_geocode_location_and_patient_with_cache(c: httpx.Client, maps_fake: FakeMaps) -> None:
    maps_fake.add_geocode("1 Test Plaza, Springfield, IL 62701", 39.7990, -89.6440, "1 Test Plaza, Springfield, IL")
    loc = create(c, {"resourceType": "Location", "name": "Springfield clinic",
                     "address": {"line": ["1 Test Plaza"], "city": "Springfield", "state": "IL",
                                 "postalCode": "62701"}})
    before = len(maps_fake.calls)
    done = c.post(f"/Location/{loc}/$geocode", headers=FHIR_JSON)
    assert done.status_code == 200, done.text
    assert done.json()["position"] == {"latitude": 39.799, "longitude": -89.644}
    assert read(c, f"Location/{loc}")["position"]["latitude"] == 39.799
    pat = create(c, {"resourceType": "Patient", "address": [
        {"line": ["1 Test Plaza"], "city": "Springfield", "state": "IL", "postalCode": "62701"},
        {"use": "old", "text": "nowhere known"}]})
    located = c.post(f"/Patient/{pat}/$geocode", headers=FHIR_JSON).json()
    ext = located["address"][0]["extension"][0]
    assert ext["url"] == "http://hl7.org/fhir/StructureDefinition/geolocation"
    assert {e["url"]: e["valueDecimal"] for e in ext["extension"]} == {"latitude": 39.799, "longitude": -89.644}
    assert "extension" not in located["address"][1]  # old addresses are left alone
    assert len(maps_fake.calls) == before + 1  # the second lookup of the address came from the cache
    params = c.get("/$geocode", params={"address": "45 Placeholder Lane, New York, NY 10013"}).json()
    values = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in params["parameter"]}
    assert values["latitude"] == 40.71931 and values["longitude"] == -74.00228
    assert values["formatted-address"] == "45 Placeholder Ln, New York, NY 10013, USA"


def test_geocode_failures_are_client_errors(c: httpx.Client, maps_fake: FakeMaps) -> None:
    loc = create(c, {"resourceType": "Location", "name": "Unknown street",
                     "address": {"text": "999 Nowhere Road, Atlantis"}})
    assert_outcome(c.post(f"/Location/{loc}/$geocode", headers=FHIR_JSON), 422)
    bare = create(c, {"resourceType": "Location", "name": "No address"})
    assert_outcome(c.post(f"/Location/{bare}/$geocode", headers=FHIR_JSON), 422)
    assert_outcome(c.get("/$geocode"), 400)
    assert_outcome(c.get("/$geocode", params={"address": "999 Nowhere Road, Atlantis"}), 404)
    assert_outcome(c.post("/Location/no-such/$geocode", headers=FHIR_JSON), 404)
    maps_fake.fail_next = [503] * 4
    assert_outcome(c.get("/$geocode", params={"address": "12 Outage Street"}), 502)
    maps_fake.fail_next = []
