"""The hand-built data set of the search tests: every value chosen so that each test's answer can be
worked out by hand from the R4 search rules (the expected ids in the tests are written that way).

Ids are fixed (written with PUT). Summary of what matters:

Patients   pat-1 Müller, Renée Anne, Dr | female | 1970-01-15 | active | MRN A100 (type MR) | Paris 75002
           pat-2 Muller, Hans           | male   | 1970-01 (a month) | inactive | MRN B200, |NOSYS | Berlin
           pat-3 Smith-Jones, Zoë       | other  | 1985      | urn:other|A100 | Paris
           pat-4 Mullerova, Eva         | -      | 1970-01-15 | deceased 2020-03-01T10:00:00+02:00
           pat-5 Abc_de%f, X            | unknown| -
           pat-6 (no name)              | male   | -
Observations (effective → date range):
  obs-1 LOINC 8480-6 120 mm[Hg]  pat-1  2013-01-14T10:00:00Z         vital-signs  enc-1
  obs-2 LOINC 8867-4 72 /min     pat-2  Period 09:00-11:00Z on 2013-01-14  vital-signs
  obs-3 example 8480-6 5400 ug   pat-3  2013-01 (a month)            example.org laboratory
  obs-4 LOINC 2339-0 5.4 mg      pat-1  Period from 2013-01-10, open end  laboratory
  obs-5 LOINC 85354-9 components 8480-6 140 / 8462-4 90 mm[Hg]  pat-2  2013-01-15T01:00:00+05:00
  obs-6 text only "Free text note", "Hello World"  pat-4  2014-06-01   preliminary
  obs-7 LOINC 8310-5 98.6 unit degF (no code)  external subject URL   no date
  obs-8 LOINC 72166-2 → SNOMED 266919005 "Never smoker"  pat-3  2015-02-03T00:00:00Z performer by identifier
  obs-9 example timing code, Timing events 2016-03-01T08:00Z and 2016-03-02T08:00Z, no subject
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def _cat(code: str, system: str = OBS_CAT) -> list[Json]:
    return [{"coding": [{"system": system, "code": code}]}]


def _loinc(code: str, display: str | None = None, text: str | None = None) -> Json:
    coding: Json = {"system": LOINC, "code": code}
    if display:
        coding["display"] = display
    cc: Json = {"coding": [coding]}
    if text:
        cc["text"] = text
    return cc


def _qty(value: float | int, code: str | None = None, unit: str | None = None) -> Json:
    q: Json = {"value": value}
    if code:
        q.update({"system": UCUM, "code": code, "unit": unit or code})
    elif unit:
        q["unit"] = unit
    return q


def patients() -> list[Json]:
    return [
        {"resourceType": "Patient", "id": "pat-1", "active": True, "gender": "female", "birthDate": "1970-01-15",
         "name": [{"family": "Müller", "given": ["Renée", "Anne"], "prefix": ["Dr"]}],
         "identifier": [{"system": "urn:mrn", "value": "A100", "type": {
             "coding": [{"system": V2_0203, "code": "MR"}], "text": "Medical record"}}],
         "telecom": [{"system": "phone", "value": "555-0101"}, {"system": "email", "value": "renee@example.org"}],
         "address": [{"line": ["12 Rue de la Paix"], "city": "Paris", "postalCode": "75002", "country": "FR"}],
         "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                                       "code": "M"}]},
         "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}]}}],
         "generalPractitioner": [{"reference": "Practitioner/prac-1"}],
         "managingOrganization": {"reference": "Organization/org-1"}},
        {"resourceType": "Patient", "id": "pat-2", "active": False, "gender": "male", "birthDate": "1970-01",
         "name": [{"family": "Muller", "given": ["Hans"]}],
         "identifier": [{"system": "urn:mrn", "value": "B200"}, {"value": "NOSYS"}],
         "telecom": [{"system": "phone", "value": "555-0202"}],
         "address": [{"city": "Berlin"}],
         "generalPractitioner": [{"reference": "Practitioner/prac-2"}]},
        {"resourceType": "Patient", "id": "pat-3", "gender": "other", "birthDate": "1985",
         "name": [{"text": "Zoë Smith-Jones", "family": "Smith-Jones", "given": ["Zoë"]}],
         "identifier": [{"system": "urn:other", "value": "A100"}],
         "address": [{"city": "Paris", "state": "TX"}],
         "managingOrganization": {"reference": "Organization/org-2"}},
        {"resourceType": "Patient", "id": "pat-4", "birthDate": "1970-01-15",
         "name": [{"family": "Mullerova", "given": ["Eva"]}], "deceasedDateTime": "2020-03-01T10:00:00+02:00"},
        {"resourceType": "Patient", "id": "pat-5", "gender": "unknown",
         "name": [{"family": "Abc_de%f", "given": ["X"]}]},
        {"resourceType": "Patient", "id": "pat-6", "gender": "male"},
    ]


def others() -> list[Json]:
    return [
        {"resourceType": "Practitioner", "id": "prac-1", "name": [{"family": "Welby", "given": ["Marcus"]}]},
        {"resourceType": "Practitioner", "id": "prac-2", "name": [{"family": "Kildare", "given": ["James"]}]},
        {"resourceType": "Organization", "id": "org-1", "name": "Acme Health", "address": [{"city": "Boston"}],
         "identifier": [{"system": "urn:org", "value": "ACME"}], "partOf": {"reference": "Organization/org-3"}},
        {"resourceType": "Organization", "id": "org-2", "name": "Beta Clinic"},
        {"resourceType": "Organization", "id": "org-3", "name": "Parent Holdings"},
        {"resourceType": "Encounter", "id": "enc-1", "status": "finished", "class": {"system": ACT, "code": "IMP"},
         "subject": {"reference": "Patient/pat-1"}, "serviceProvider": {"reference": "Organization/org-1"},
         "participant": [{"individual": {"reference": "Practitioner/prac-1"}}],
         "period": {"start": "2013-01-01", "end": "2013-01-05"}},
        {"resourceType": "Encounter", "id": "enc-2", "status": "in-progress", "class": {"system": ACT, "code": "ACUTE"},
         "subject": {"reference": "Patient/pat-2"}, "period": {"start": "2014-05-01"}},
        {"resourceType": "Encounter", "id": "enc-3", "status": "finished", "class": {"system": ACT, "code": "AMB"},
         "subject": {"reference": "Patient/pat-3"},
         "period": {"start": "2015-01-01T10:00:00Z", "end": "2015-01-01T11:00:00Z"}},
        {"resourceType": "RiskAssessment", "id": "ra-1", "status": "final", "subject": {"reference": "Patient/pat-1"},
         "prediction": [{"probabilityDecimal": 0.25}]},
        {"resourceType": "RiskAssessment", "id": "ra-2", "status": "final", "subject": {"reference": "Patient/pat-2"},
         "prediction": [{"probabilityDecimal": 0.3}]},
        *[{"resourceType": "ValueSet", "id": f"vs-{i}", "url": url, "status": "active", "name": f"VS{i}"}
          for i, url in ((1, "http://acme.org/fhir/ValueSet/123"), (2, "http://acme.org/fhir/ValueSet/124"),
                         (3, "http://acme.org/other"), (4, "http://acme.org/fhirx/ValueSet/9"))],
        *[{"resourceType": "Location", "id": f"loc-{i}", "name": name,
           **({"position": {"latitude": lat, "longitude": lon}} if lat is not None else {})}
          for i, name, lat, lon in ((1, "Boston", 42.3601, -71.0589), (2, "Cambridge", 42.3736, -71.1097),
                                    (3, "New York", 40.7128, -74.0060), (4, "Nowhere", None, None),
                                    (5, "Box corner", 42.4401, -70.9489))],
        {"resourceType": "List", "id": "list-1", "status": "current", "mode": "working",
         "entry": [{"item": {"reference": "Patient/pat-2"}}, {"item": {"reference": "Patient/pat-5"}}]},
    ]


def observations() -> list[Json]:
    obs: list[Json] = [
        {"id": "obs-1", "category": _cat("vital-signs"), "code": _loinc("8480-6", "Systolic blood pressure",
                                                                        "Systolic BP"),
         "subject": {"reference": "Patient/pat-1"}, "encounter": {"reference": "Encounter/enc-1"},
         "effectiveDateTime": "2013-01-14T10:00:00Z", "valueQuantity": _qty(120, "mm[Hg]")},
        {"id": "obs-2", "category": _cat("vital-signs"), "code": _loinc("8867-4", "Heart rate"),
         "subject": {"reference": "Patient/pat-2"},
         "effectivePeriod": {"start": "2013-01-14T09:00:00Z", "end": "2013-01-14T11:00:00Z"},
         "valueQuantity": _qty(72, "/min")},
        {"id": "obs-3", "category": _cat("laboratory", "http://example.org/cat"),
         "code": {"coding": [{"system": "http://example.org/codes", "code": "8480-6"}]},
         "subject": {"reference": "Patient/pat-3"}, "effectiveDateTime": "2013-01",
         "valueQuantity": _qty(5400, "ug")},
        {"id": "obs-4", "category": _cat("laboratory"), "code": _loinc("2339-0", "Glucose"),
         "subject": {"reference": "Patient/pat-1"}, "effectivePeriod": {"start": "2013-01-10"},
         "valueQuantity": _qty(5.4, "mg")},
        {"id": "obs-5", "code": _loinc("85354-9", "Blood pressure panel"), "subject": {"reference": "Patient/pat-2"},
         "effectiveDateTime": "2013-01-15T01:00:00+05:00",
         "component": [{"code": _loinc("8480-6"), "valueQuantity": _qty(140, "mm[Hg]")},
                       {"code": _loinc("8462-4"), "valueQuantity": _qty(90, "mm[Hg]")}]},
        {"id": "obs-6", "status": "preliminary", "code": {"text": "Free text note"},
         "subject": {"reference": "Patient/pat-4"}, "effectiveDateTime": "2014-06-01", "valueString": "Hello World"},
        {"id": "obs-7", "code": _loinc("8310-5", "Body temperature"),
         "subject": {"reference": "http://other.example.org/fhir/Patient/ext-1"},
         "valueQuantity": _qty(98.6, unit="degF")},
        {"id": "obs-8", "code": _loinc("72166-2", "Tobacco smoking status"), "subject": {"reference": "Patient/pat-3"},
         "effectiveDateTime": "2015-02-03T00:00:00Z", "performer": [{"identifier": {"system": "urn:npi",
                                                                                    "value": "NPI-9"}}],
         "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "266919005",
                                              "display": "Never smoked tobacco"}], "text": "Never smoker"}},
        {"id": "obs-9", "code": {"coding": [{"system": "http://example.org/codes", "code": "timing"}]},
         "effectiveTiming": {"event": ["2016-03-01T08:00:00Z", "2016-03-02T08:00:00Z"]}},
    ]
    for o in obs:
        o["resourceType"] = "Observation"
        o.setdefault("status", "final")
    return obs


def resources() -> list[Json]:
    return [*others(), *patients(), *observations()]


ALL_PATIENTS = {f"pat-{i}" for i in range(1, 7)}
ALL_OBS = {f"obs-{i}" for i in range(1, 10)}
