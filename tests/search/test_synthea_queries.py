"""Realistic searches on the 50 Synthea patients, checked against answers computed here in plain
Python from the raw bundles (not through the search engine): R4 search semantics applied by hand."""

from __future__ import annotations

import gzip
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from fhir_server.demo import synthea_files
from tests.conftest import Database, LiveServer
from tests.helpers import FHIR_JSON
from tests.search.conftest import Searcher

Json = dict[str, Any]
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


class Raw:
    """The raw resources, with the ids the server gave them and their references resolved to those ids."""

    def __init__(self) -> None:
        self.by_type: dict[str, list[Json]] = {}
        self.full_urls: dict[str, str] = {}  # urn:uuid → Type/id

    def add(self, bundle: Json, response: Json) -> None:
        for entry, answer in zip(bundle["entry"], response["entry"], strict=True):
            res = entry["resource"]
            location = answer["response"]["location"].split("/_history")[0]
            res["id"] = location.split("/")[-1]
            self.full_urls[entry["fullUrl"]] = location
            self.by_type.setdefault(res["resourceType"], []).append(res)

    def ref(self, reference: Json | None) -> str | None:
        """The Type/id a reference points at (urn:uuid and conditional references resolved)."""
        if not reference or "reference" not in reference:
            return None
        value = str(reference["reference"])
        if value in self.full_urls:
            return self.full_urls[value]
        if "?identifier=" in value:
            rtype, _, ident = value.partition("?identifier=")
            system, _, code = ident.partition("|")
            for r in self.by_type.get(rtype, []):
                if any(i.get("system") == system and i.get("value") == code for i in r.get("identifier", [])):
                    return f"{rtype}/{r['id']}"
        return value

    def of(self, res_type: str) -> list[Json]:
        return self.by_type.get(res_type, [])


@pytest.fixture(scope="module")
def synthea(pg_admin_url: str) -> Iterator[tuple[Searcher, Raw]]:
    server = LiveServer(Database(pg_admin_url)).start()
    raw = Raw()
    with server.client() as c:
        for f in synthea_files():
            bundle = orjson.loads(gzip.decompress(f.read_bytes()))
            resp = c.post("/", content=orjson.dumps(bundle), headers=FHIR_JSON)
            assert resp.status_code == 200, resp.text[:300]
            raw.add(bundle, resp.json())
    searcher = Searcher(server)
    yield searcher, raw
    searcher.close()
    server.stop()


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def instant(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def has_coding(cc: Json | None, system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code for c in (cc or {}).get("coding", []))


def ids(resources: list[Json]) -> set[str]:
    return {r["id"] for r in resources}


def test_gender_birthdate_and_names(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    patients = raw.of("Patient")
    assert len(patients) == 50
    assert s.ids("/Patient?gender=female&_count=100") == ids([p for p in patients if p["gender"] == "female"])
    # birthDate is a day: lt1960-01-01 means the day starts before 1960-01-01
    assert s.ids("/Patient?birthdate=lt1960-01-01") == ids([p for p in patients if p["birthDate"] < "1960-01-01"])
    assert s.ids("/Patient?birthdate=1990") == ids([p for p in patients if p["birthDate"].startswith("1990")])
    prefix = fold(patients[7]["name"][0]["family"][:3])
    expected = ids([p for p in patients if any(fold(n.get("family", "")).startswith(prefix) for n in p["name"])])
    assert s.ids(f"/Patient?family={prefix.upper()}") == expected and expected
    city = patients[3]["address"][0]["city"]
    expected = ids([p for p in patients if any(fold(a.get("city", "")).startswith(fold(city))
                                               for a in p.get("address", []))])
    assert s.ids(f"/Patient?address-city={city.lower()}") == expected and expected


def test_observation_code_and_value(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    heights = [o for o in raw.of("Observation") if has_coding(o["code"], LOINC, "8302-2")]
    assert s.bundle(f"/Observation?code={LOINC}|8302-2&_summary=count")["total"] == len(heights)
    tall = [o for o in heights if o["valueQuantity"]["value"] > 180]
    assert tall and len(tall) < len(heights)
    assert s.ids(f"/Observation?code={LOINC}|8302-2&value-quantity=gt180&_count=1000") == ids(tall)
    # in metres (UCUM canonical form): 1.8 m is 180 cm
    assert s.ids(f"/Observation?code={LOINC}|8302-2&value-quantity=gt1.8|http://unitsofmeasure.org|m"
                 "&_count=1000") == ids(tall)


def test_blood_pressure_components(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea

    def high(o: Json) -> bool:
        return any(has_coding(c["code"], LOINC, "8480-6") and c.get("valueQuantity", {}).get("value", 0) > 140
                   for c in o.get("component", []))

    expected = ids([o for o in raw.of("Observation") if high(o)])
    assert expected
    assert s.ids(f"/Observation?component-code-value-quantity={LOINC}|8480-6$gt140&_count=1000") == expected


def test_conditions_and_reverse_chain(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    codes = Counter((c["code"]["coding"][0]["system"], c["code"]["coding"][0]["code"]) for c in raw.of("Condition"))
    (system, code), n = codes.most_common(1)[0]
    assert s.bundle(f"/Condition?code={system}|{code}&_summary=count")["total"] == n
    patients = {raw.ref(c["subject"]) for c in raw.of("Condition") if has_coding(c["code"], system, code)}
    assert s.ids(f"/Patient?_has:Condition:patient:code={system}|{code}") == {p.split("/")[1] for p in patients
                                                                               if p}
    active_old = [c for c in raw.of("Condition") if c.get("onsetDateTime", "9") < "2000"
                  and has_coding(c.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                 "active")]
    assert s.ids("/Condition?onset-date=lt2000-01-01&clinical-status=active&_count=1000") == ids(active_old)


def test_chain_to_patient_name(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    family = raw.of("Patient")[11]["name"][0]["family"]
    owners = {f"Patient/{p['id']}" for p in raw.of("Patient")
              if any(fold(part).startswith(fold(family)) for n in p["name"]
                     for part in [n.get("family", ""), *n.get("given", []), *n.get("prefix", []),
                                  *n.get("suffix", [])])}
    expected = ids([o for o in raw.of("Observation") if raw.ref(o.get("subject")) in owners])
    assert expected
    assert s.ids(f"/Observation?subject:Patient.name={family}&_count=1000") == expected


def test_encounters_in_2015(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    lo, hi = datetime(2015, 1, 1, tzinfo=UTC), datetime(2016, 1, 1, tzinfo=UTC)

    def in_range(e: Json) -> bool:
        start = instant(e["period"]["start"])
        end = instant(e["period"]["end"]) if "end" in e["period"] else datetime.max.replace(tzinfo=UTC)
        # ge2015-01-01: reaches past 2015-01-02, or lies within 2015-01-01; lt2016-01-01: starts before 2016
        ge = end.timestamp() + 1 > datetime(2015, 1, 2, tzinfo=UTC).timestamp() or (start >= lo)
        return ge and start < hi

    expected = ids([e for e in raw.of("Encounter") if in_range(e)])
    assert expected
    assert s.ids("/Encounter?date=ge2015-01-01&date=lt2016-01-01&_count=1000") == expected


def test_immunizations_by_vaccine_and_date(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    cvx = "http://hl7.org/fhir/sid/cvx"
    flu = [i for i in raw.of("Immunization") if has_coding(i["vaccineCode"], cvx, "140")]
    recent = [i for i in flu if instant(i["occurrenceDateTime"]) >= datetime(2016, 1, 1, tzinfo=UTC)]
    assert recent and len(recent) < len(flu)
    assert s.ids(f"/Immunization?vaccine-code={cvx}|140&_count=1000") == ids(flu)
    assert s.ids(f"/Immunization?vaccine-code={cvx}|140&date=ge2016&_count=1000") == ids(recent)


def test_include_patients_of_active_prescriptions(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    active = [m for m in raw.of("MedicationRequest") if m["status"] == "active"]
    body = s.bundle("/MedicationRequest?status=active&_include=MedicationRequest:patient&_count=1000")
    assert body["total"] == len(active)
    assert {e["resource"]["id"] for e in body["entry"] if e["search"]["mode"] == "match"} == ids(active)
    owners = {raw.ref(m["subject"]) for m in active}
    included = [f"Patient/{e['resource']['id']}" for e in body["entry"] if e["search"]["mode"] == "include"]
    assert sorted(included) == sorted(o for o in owners if o)


def test_latest_weights_of_one_patient(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    pid = raw.of("Patient")[5]["id"]
    weights = [o for o in raw.of("Observation") if has_coding(o["code"], LOINC, "29463-7")
               and raw.ref(o["subject"]) == f"Patient/{pid}"]
    expected = sorted((instant(o["effectiveDateTime"]) for o in weights), reverse=True)[:5]
    body = s.bundle(f"/Observation?patient={pid}&code={LOINC}|29463-7&_sort=-date&_count=5")
    got = [instant(e["resource"]["effectiveDateTime"]) for e in body["entry"]]
    assert got == expected and body["total"] == len(weights)


def test_compartment_and_revinclude(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    pid = raw.of("Patient")[20]["id"]
    mine = ids([e for e in raw.of("Encounter") if raw.ref(e["subject"]) == f"Patient/{pid}"])
    assert s.ids(f"/Patient/{pid}/Encounter?_count=1000") == mine
    body = s.bundle(f"/Patient?_id={pid}&_revinclude=Encounter:subject&_count=1")
    assert {e["resource"]["id"] for e in body["entry"] if e["search"]["mode"] == "include"} == mine


def test_practitioner_chain_and_tokens(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    providers = Counter(raw.ref(e.get("serviceProvider")) for e in raw.of("Encounter"))
    org_ref, n = providers.most_common(1)[0]
    assert org_ref
    org = next(o for o in raw.of("Organization") if f"Organization/{o['id']}" == org_ref)
    same_name = {f"Organization/{o['id']}" for o in raw.of("Organization")
                 if fold(o["name"]).startswith(fold(org["name"]))}
    expected = ids([e for e in raw.of("Encounter") if raw.ref(e.get("serviceProvider")) in same_name])
    assert len(expected) >= n
    assert s.ids(f"/Encounter?service-provider.name={org['name']}&_count=1000") == expected
    amb = ids([e for e in raw.of("Encounter") if e["class"]["code"] == "AMB"])
    assert s.bundle("/Encounter?class=AMB&_summary=count")["total"] == len(amb)


def test_lastupdated_and_tags(synthea: tuple[Searcher, Raw]) -> None:
    s, raw = synthea
    tagged = [r for rs in raw.by_type.values() for r in rs
              if any(t.get("code") == "synthea-5-2019" for t in r.get("meta", {}).get("tag", []))]
    assert s.bundle("/?_tag=https://smarthealthit.org/tags|synthea-5-2019&_summary=count")["total"] == len(tagged)
    assert s.bundle("/Patient?_lastUpdated=gt2000-01-01&_summary=count")["total"] == 50
    assert s.bundle("/Patient?_lastUpdated=lt2000-01-01&_summary=count")["total"] == 0
