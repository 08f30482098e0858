"""batch and transaction (http://hl7.org/fhir/R4/http.html#transaction)."""
