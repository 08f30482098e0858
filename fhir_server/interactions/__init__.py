"""The FHIR interactions (http://hl7.org/fhir/R4/http.html), one module each, free of HTTP details.

The REST routes and the batch/transaction processor call the same functions.
"""
