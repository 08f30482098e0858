"""Building scheduling data over the REST API: locations, practitioners, schedules, slots, patients."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers import FHIR_JSON

SPECIALTY = "http://snomed.info/sct"
SERVICE = "http://terminology.hl7.org/CodeSystem/service-type"


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(days: float, hour: int = 9, minute: int = 0) -> datetime:
    """A time ``days`` from today (UTC), at hour:minute."""
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days, hours=hour, minutes=minute)


def create(c: httpx.Client, resource: dict[str, Any]) -> str:
    resp = c.post(f"/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


class Clinic:
    """One practitioner with a schedule at one location; slots on demand."""

    def __init__(self, c: httpx.Client, lat: float, lon: float, *, specialty: str = "394814009",
                 service: str = "124", name: str | None = None) -> None:
        self.c = c
        self.tag = uuid.uuid4().hex[:8]
        self.name = name or f"Clinic {self.tag}"
        self.location = create(c, {"resourceType": "Location", "name": self.name, "status": "active",
                                   "position": {"latitude": lat, "longitude": lon}})
        self.practitioner = create(c, {"resourceType": "Practitioner",
                                       "name": [{"family": f"Doc{self.tag}", "given": ["Ann"]}]})
        self.role = create(c, {"resourceType": "PractitionerRole", "active": True,
                               "practitioner": {"reference": f"Practitioner/{self.practitioner}"},
                               "location": [{"reference": f"Location/{self.location}"}],
                               "specialty": [{"coding": [{"system": SPECIALTY, "code": specialty}]}]})
        self.schedule = create(c, {"resourceType": "Schedule", "active": True,
                                   "serviceType": [{"coding": [{"system": SERVICE, "code": service}]}],
                                   "actor": [{"reference": f"PractitionerRole/{self.role}"}]})

    def slot(self, start: datetime, minutes: int = 30, status: str = "free", **extra: Any) -> str:
        return create(self.c, {"resourceType": "Slot", "schedule": {"reference": f"Schedule/{self.schedule}"},
                               "status": status, "start": iso(start), "end": iso(start + timedelta(minutes=minutes)),
                               **extra})


def patient(c: httpx.Client, **extra: Any) -> str:
    return create(c, {"resourceType": "Patient", "name": [{"family": "Winterbourne", "given": ["Calla"]}],
                      "gender": "female", "birthDate": "1988-11-02", **extra})


def read(c: httpx.Client, ref: str) -> dict[str, Any]:
    resp = c.get(f"/{ref}")
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def params(*pairs: tuple[str, Any]) -> dict[str, Any]:
    """A Parameters resource: (name, value) with value a resource, a (valueX, v) tuple, or a string."""
    out = []
    for name, value in pairs:
        if isinstance(value, dict):
            out.append({"name": name, "resource": value})
        elif isinstance(value, tuple):
            out.append({"name": name, value[0]: value[1]})
        else:
            out.append({"name": name, "valueString": str(value)})
    return {"resourceType": "Parameters", "parameter": out}
