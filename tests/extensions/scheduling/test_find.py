"""Appointment/$find and Location?near (Argonaut Scheduling $find; R4 location.html#positional).

Distances are checked against a great-circle distance computed here independently (Vincenty's
formula on the WGS84 ellipsoid, which agrees with the server's spherical haversine to within
0.5 %), and against hand-picked points a known number of degrees apart.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from tests.extensions.scheduling.clinic import SERVICE, SPECIALTY, Clinic, at, iso, patient
from tests.helpers import assert_outcome

DISTANCE = "http://hl7.org/fhir/StructureDefinition/location-distance"


def vincenty_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Inverse Vincenty on WGS84 (independent of the server's sphere)."""
    a, f = 6378137.0, 1 / 298.257223563
    b = (1 - f) * a
    u1, u2 = math.atan((1 - f) * math.tan(math.radians(lat1))), math.atan((1 - f) * math.tan(math.radians(lat2)))
    lam = big_l = math.radians(lon2 - lon1)
    for _ in range(200):
        sin_s = math.hypot(math.cos(u2) * math.sin(lam),
                           math.cos(u1) * math.sin(u2) - math.sin(u1) * math.cos(u2) * math.cos(lam))
        if sin_s == 0:
            return 0.0
        cos_s = math.sin(u1) * math.sin(u2) + math.cos(u1) * math.cos(u2) * math.cos(lam)
        sigma = math.atan2(sin_s, cos_s)
        sin_a = math.cos(u1) * math.cos(u2) * math.sin(lam) / sin_s
        cos2a = 1 - sin_a**2
        cos2sm = cos_s - 2 * math.sin(u1) * math.sin(u2) / cos2a if cos2a else 0.0
        cc = f / 16 * cos2a * (4 + f * (4 - 3 * cos2a))
        prev = lam
        lam = big_l + (1 - cc) * f * sin_a * (sigma + cc * sin_s * (cos2sm + cc * cos_s * (-1 + 2 * cos2sm**2)))
        if abs(lam - prev) < 1e-12:
            break
    u_sq = cos2a * (a**2 - b**2) / b**2
    aa = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    bb = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    ds = bb * sin_s * (cos2sm + bb / 4 * (cos_s * (-1 + 2 * cos2sm**2)
                                          - bb / 6 * cos2sm * (-3 + 4 * sin_s**2) * (-3 + 4 * cos2sm**2)))
    return b * aa * (sigma - ds) / 1000


def _matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _km(entry: dict[str, Any]) -> float:
    ext = next(x for x in entry["search"]["extension"] if x["url"] == DISTANCE)
    assert ext["valueDistance"]["code"] == "km"
    return float(ext["valueDistance"]["value"])


def _slot_id(entry: dict[str, Any]) -> str:
    return str(entry["resource"]["slot"][0]["reference"].split("/")[1])


# Remote points (southern hemisphere, far from other tests' data) so results are only this test's.
CENTER = (-33.8688, 151.2093)


def test_find_near_orders_by_start_then_distance_with_true_distances(c: httpx.Client) -> None:
    near = Clinic(c, -33.8700, 151.2100)  # ~0.15 km
    mid = Clinic(c, -33.8900, 151.2300)  # ~3 km
    far = Clinic(c, -33.9500, 151.3000)  # ~12.4 km: outside a 10 km radius
    t1, t2 = at(20, 9), at(20, 10)
    s_mid_1, s_near_1 = mid.slot(t1), near.slot(t1)
    s_near_2 = near.slot(t2)
    far.slot(t1)
    resp = c.get("/Appointment/$find", params={"near": f"{CENTER[0]}|{CENTER[1]}|10|km", "start": iso(at(20)),
                                               "end": iso(at(21))})
    assert resp.status_code == 200, resp.text
    got = _matches(resp.json())
    assert [_slot_id(e) for e in got] == [s_near_1, s_mid_1, s_near_2]
    for e, clinic in zip(got, (near, mid, near), strict=True):
        loc = c.get(f"/Location/{clinic.location}").json()["position"]
        expected = vincenty_km(CENTER[0], CENTER[1], loc["latitude"], loc["longitude"])
        assert abs(_km(e) - expected) <= 0.005 * expected + 0.002
        assert e["resource"]["status"] == "proposed"
        assert e["resource"]["start"] in (iso(t1), iso(t2))
    assert all(_km(e) <= 10 for e in got)
    included = {e["fullUrl"].rsplit("/", 2)[-2] for e in resp.json()["entry"] if e["search"]["mode"] == "include"}
    assert included == {"Slot", "Location"}


def test_near_units_and_radius(c: httpx.Client) -> None:
    origin = (-41.2865, 174.7762)  # one degree of latitude north is ~111 km everywhere
    Clinic(c, origin[0] + 1.0, origin[1]).slot(at(22, 9))
    base = {"start": iso(at(22)), "end": iso(at(23))}
    here = f"{origin[0]}|{origin[1]}"
    assert _matches(c.get("/Appointment/$find", params={**base, "near": f"{here}|110|km"}).json()) == []
    hit = _matches(c.get("/Appointment/$find", params={**base, "near": f"{here}|112|km"}).json())
    assert len(hit) == 1 and abs(_km(hit[0]) - 111.19) < 0.05
    assert len(_matches(c.get("/Appointment/$find", params={**base, "near": f"{origin[0]}|{origin[1]}|70|mi"})
                        .json())) == 1  # 70 mi = 112.65 km
    assert _matches(c.get("/Appointment/$find", params={**base, "near": f"{origin[0]}|{origin[1]}|100000|m"})
                    .json()) == []


def test_find_filters_who_what_and_when(c: httpx.Client) -> None:
    a = Clinic(c, 51.5, -0.12, specialty="419772000", service="57")
    b = Clinic(c, 51.5, -0.13, specialty="394814009", service="124")
    day = at(25)
    sa, sb = a.slot(at(25, 9)), b.slot(at(25, 9))
    later = a.slot(at(26, 9))
    window = {"start": iso(day), "end": iso(at(26))}
    by_practitioner = _matches(c.get("/Appointment/$find", params={**window, "practitioner": a.practitioner}).json())
    assert [_slot_id(e) for e in by_practitioner] == [sa]
    by_location = _matches(c.get("/Appointment/$find", params={**window, "location": f"Location/{b.location}"})
                           .json())
    assert [_slot_id(e) for e in by_location] == [sb]
    by_specialty = _matches(c.get("/Appointment/$find", params={**window, "specialty": f"{SPECIALTY}|419772000",
                                                                "near": "51.5|-0.12|5"}).json())
    assert [_slot_id(e) for e in by_specialty] == [sa]
    by_service = _matches(c.get("/Appointment/$find", params={**window, "service-type": f"{SERVICE}|124",
                                                              "near": "51.5|-0.12|5"}).json())
    assert [_slot_id(e) for e in by_service] == [sb]
    wider = _matches(c.get("/Appointment/$find", params={"practitioner": a.practitioner, "start": iso(day),
                                                         "end": iso(at(27))}).json())
    assert [_slot_id(e) for e in wider] == [sa, later]
    one = _matches(c.get("/Appointment/$find", params={"practitioner": a.practitioner, "start": iso(day),
                                                       "end": iso(at(27)), "_count": "1"}).json())
    assert [_slot_id(e) for e in one] == [sa]


def test_find_offers_only_free_slots_and_names_the_patient(c: httpx.Client) -> None:
    k = Clinic(c, 48.85, 2.35)
    free = k.slot(at(28, 9))
    k.slot(at(28, 10), status="busy")
    k.slot(at(28, 11), status="busy-unavailable")
    pat = patient(c)
    resp = c.post("/Appointment/$find", json={"resourceType": "Parameters", "parameter": [
        {"name": "practitioner", "valueReference": {"reference": f"Practitioner/{k.practitioner}"}},
        {"name": "patient", "valueReference": {"reference": f"Patient/{pat}"}},
        {"name": "start", "valueDateTime": iso(at(28))}, {"name": "end", "valueDateTime": iso(at(29))}]},
        headers={"Content-Type": "application/fhir+json"})
    got = _matches(resp.json())
    assert [_slot_id(e) for e in got] == [free]
    actors = {p["actor"]["reference"] for p in got[0]["resource"]["participant"]}
    assert actors == {f"Practitioner/{k.practitioner}", f"Location/{k.location}", f"Patient/{pat}"}


def test_find_refuses_bad_input_with_400(c: httpx.Client) -> None:
    for query in ({"near": "abc|1"}, {"near": "91|0|1|km"}, {"near": "0|0|1|parsecs"}, {"start": "tomorrow"},
                  {"start": "2030-01-02", "end": "2030-01-01"}, {"start": "2030-01-01", "end": "2031-01-01"},
                  {"_count": "-1"}, {"_count": "1000"}, {"practitioner": "Patient/1"}, {"patient-type": "old"}):
        assert_outcome(c.get("/Appointment/$find", params=query), 400)


def test_location_near_search_reports_true_distances(c: httpx.Client) -> None:
    """The R4 ``near`` search parameter: a true radius and the distance in search.extension."""
    origin = (-22.9068, -43.1729)
    points = [(-22.9100, -43.1700), (-22.9500, -43.2100), (-23.0068, -43.1729)]
    ids = [Clinic(c, lat, lon).location for lat, lon in points]
    resp = c.get("/Location", params={"near": f"{origin[0]}|{origin[1]}|10|km"})
    assert resp.status_code == 200, resp.text
    got = {e["resource"]["id"]: _km(e) for e in resp.json()["entry"] if e["search"]["mode"] == "match"}
    inside = [i for i, (lat, lon) in zip(ids, points, strict=True) if vincenty_km(*origin, lat, lon) <= 9.9]
    assert set(inside) <= set(got) and ids[2] not in got  # the third is 11.1 km away
    for i, (lat, lon) in zip(ids, points, strict=True):
        if i in got:
            expected = vincenty_km(*origin, lat, lon)
            assert abs(got[i] - expected) <= 0.005 * expected + 0.002
