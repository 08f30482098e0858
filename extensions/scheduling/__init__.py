"""Scheduling (http://hl7.org/fhir/R4/appointment.html, slot.html, schedule.html): the Slot/Appointment
workflow, its invariants, and the $find/$hold/$book/$cancel operations."""
