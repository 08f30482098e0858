"""ZocDoc booking and webhooks (../shared/apis/zocdoc.md "Booking", "Webhooks") ↔ Appointment.

Pure functions: FHIR Patient + Slot → the ``POST /v1/appointments`` body; ZocDoc appointment data →
Appointment status/time; a webhook delivery → its checked signature and parsed event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mappers.common import Json, MappingError, text
from mappers.zocdoc import fhir_instant, parse_start

# ZocDoc appointment_status → FHIR Appointment.status
STATUS = {
    "pending_booking": "pending",
    "confirmed": "booked",
    "booking_failed": "cancelled",
    "cancelled": "cancelled",
    "no_show": "noshow",
    "arrived": "arrived",
    "pending_reschedule": "booked",
    "rescheduled": "booked",
    "reschedule_failed": "booked",
}
SIGNATURE_TOLERANCE = 300  # seconds between webhook-timestamp and now
_STATE = re.compile(r"[A-Z]{2}")
_ZIP = re.compile(r"(\d{5})(?:-\d{4})?")


def fhir_status(zocdoc_status: Any) -> str:
    if zocdoc_status not in STATUS:
        raise MappingError("appointment", f"unknown ZocDoc appointment_status {zocdoc_status!r}")
    return STATUS[zocdoc_status]


def _official_name(patient: Json) -> Json:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    for n in names:
        if n.get("use") in (None, "official", "usual"):
            return n
    return names[0] if names else {}


def _phone(patient: Json) -> str | None:
    for cp in patient.get("telecom") or []:
        if isinstance(cp, dict) and cp.get("system") == "phone" and isinstance(cp.get("value"), str):
            digits = re.sub(r"\D", "", cp["value"])
            if len(digits) == 11 and digits.startswith("1"):
                digits = digits[1:]
            if len(digits) == 10 and digits[0] not in "01" and digits[3] not in "01":
                return digits
    return None


def _email(patient: Json) -> str | None:
    for cp in patient.get("telecom") or []:
        if isinstance(cp, dict) and cp.get("system") == "email" and text(cp.get("value")):
            return str(cp["value"]).strip()
    return None


def _address(patient: Json, problems: list[str]) -> Json | None:
    for a in patient.get("address") or []:
        if not isinstance(a, dict) or a.get("use") == "old":
            continue
        lines = [line for line in a.get("line") or [] if text(line)]
        state, zip_match = str(a.get("state") or "").strip().upper(), _ZIP.fullmatch(str(a.get("postalCode") or ""))
        if lines and text(a.get("city")) and _STATE.fullmatch(state) and zip_match:
            out: Json = {"address1": lines[0], "city": a["city"], "state": state, "zip_code": zip_match.group(1)}
            if len(lines) > 1:
                out["address2"] = ", ".join(lines[1:])
            return out
    problems.append("an address with line, city, 2-letter state and 5-digit postal code")
    return None


def patient_payload(patient: Json) -> Json:
    """A FHIR Patient → ZocDoc's booking Patient; every missing field is named in one error."""
    record = f"Patient/{patient.get('id')}"
    problems: list[str] = []
    name = _official_name(patient)
    given = [g for g in name.get("given") or [] if text(g)]
    if not given or not text(name.get("family")):
        problems.append("a name with given and family")
    birth = patient.get("birthDate")
    if not (isinstance(birth, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", birth)):
        problems.append("a full birthDate (YYYY-MM-DD)")
    sex = patient.get("gender")
    if sex not in ("male", "female"):
        problems.append("gender male or female (ZocDoc's sex_at_birth)")
    phone, email = _phone(patient), _email(patient)
    if phone is None:
        problems.append("a 10-digit US phone number")
    if email is None:
        problems.append("an email address")
    address = _address(patient, problems)
    if problems:
        raise MappingError(record, "ZocDoc booking needs " + "; ".join(problems))
    return {
        "developer_patient_id": str(patient.get("id")),
        "first_name": given[0],
        "last_name": name["family"],
        "date_of_birth": birth,
        "sex_at_birth": sex,
        "phone_number": phone,
        "email_address": email,
        "patient_address": address,
    }


def booking_request(plid: str, start: str, visit_reason_id: str, patient: Json, patient_type: str = "new",
                    notes: str | None = None) -> Json:
    """The body of ``POST /v1/appointments`` for a ZocDoc timeslot."""
    if patient_type not in ("new", "existing"):
        raise MappingError(plid, "patient_type is new or existing")
    data: Json = {
        "start_time": start,
        "visit_reason_id": visit_reason_id,
        "provider_location_id": plid,
        "patient_type": patient_type,
        "patient": patient_payload(patient),
    }
    if text(notes):
        data["notes"] = str(notes)[:100]
    return {"appointment_type": "providers", "data": data}


@dataclass(slots=True)
class RemoteAppointment:
    """What ZocDoc says about an appointment, in FHIR terms."""

    appointment_id: str
    status: str  # FHIR Appointment.status
    zocdoc_status: str
    start: str | None = None  # FHIR instant (with the provider's offset) when ZocDoc sent start_time
    provider_location_id: str | None = None
    cancellation_reason: str | None = None


def remote_appointment(data: Any) -> RemoteAppointment:
    """``AppointmentResponseData`` / ``AppointmentStatusResponseData`` → RemoteAppointment."""
    if not isinstance(data, dict):
        raise MappingError("appointment", "'data' is not an object")
    aid = text(data.get("appointment_id"))
    if aid is None:
        raise MappingError("appointment", "'appointment_id' is missing")
    status = fhir_status(data.get("appointment_status"))
    start = fhir_instant(parse_start(aid, data["start_time"])) if data.get("start_time") is not None else None
    return RemoteAppointment(aid, status, str(data["appointment_status"]), start,
                             text(data.get("provider_location_id")), text(data.get("cancellation_reason")))


def end_after(start: str, minutes: int) -> str:
    return fhir_instant(datetime.fromisoformat(start) + timedelta(minutes=minutes))


# ---- webhooks -----------------------------------------------------------------------------------


class WebhookRejected(ValueError):
    """A delivery that must not be applied (bad signature, stale timestamp, malformed payload)."""


def verify_signature(key_b64: str, timestamp: str | None, signature: str | None, body: bytes,
                     now: float, tolerance: int = SIGNATURE_TOLERANCE) -> None:
    """HMAC-SHA256 of ``<webhook-timestamp>.<raw body>`` with the base64-decoded key, in a ``v1:`` entry."""
    if not timestamp or not timestamp.strip().isdigit():
        raise WebhookRejected("the webhook-timestamp header is missing or not Unix seconds")
    if abs(now - int(timestamp)) > tolerance:
        raise WebhookRejected(f"the webhook-timestamp is more than {tolerance} s from now")
    if not signature:
        raise WebhookRejected("the webhook-signature header is missing")
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookRejected("the configured webhook key is not base64") from exc
    expected = hmac.new(key, timestamp.strip().encode() + b"." + body, hashlib.sha256).digest()
    for entry in signature.split(";"):
        version, _, value = entry.strip().partition(":")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected):
            return
    raise WebhookRejected("no v1 signature matches the body")


def sign(key_b64: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` value ZocDoc would send (used by senders and tests)."""
    digest = hmac.new(base64.b64decode(key_b64), timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return "v1:" + base64.b64encode(digest).decode()


@dataclass(slots=True, frozen=True)
class WebhookEvent:
    appointment_id: str
    updated: str  # appointment_updated_timestamp
    update_type: str  # updated | cancelled | created
    changed: tuple[str, ...]

    @property
    def key(self) -> str:
        """The idempotency key (ZocDoc documents no event id)."""
        return f"{self.appointment_id}|{self.updated}|{self.update_type}"


def webhook_event(body: Any) -> WebhookEvent:
    if not isinstance(body, dict) or body.get("event_type") != "appointment_updated":
        raise WebhookRejected("event_type must be 'appointment_updated'")
    data = body.get("data")
    if not isinstance(data, dict) or data.get("data_type") != "appointment_data":
        raise WebhookRejected("data.data_type must be 'appointment_data'")
    appt = data.get("appointment_data")
    if not isinstance(appt, dict):
        raise WebhookRejected("data.appointment_data is missing")
    aid, updated = text(appt.get("appointment_id")), text(appt.get("appointment_updated_timestamp"))
    kind = appt.get("appointment_update_type")
    if aid is None or updated is None:
        raise WebhookRejected("appointment_id and appointment_updated_timestamp are required")
    if kind not in ("updated", "cancelled", "created"):
        raise WebhookRejected(f"unknown appointment_update_type {kind!r}")
    changed = tuple(str(c.get("attribute_path")) for c in appt.get("changed_attributes") or []
                    if isinstance(c, dict) and c.get("attribute_path"))
    return WebhookEvent(aid, updated, str(kind), changed)
