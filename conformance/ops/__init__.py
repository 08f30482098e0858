"""The FHIR operations of the conformance package (http://hl7.org/fhir/R4/operations.html).

Each module registers its operations with :func:`fhir_server.operations.operation`; the server
imports them at start-up (``load_operations``).
"""
