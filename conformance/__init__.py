"""Conformance toolkit (http://hl7.org/fhir/R4/conformance-module.html): profile validation, terminology
operations, ``$validate``, and ``fhir-conformance``, a runner that tests any FHIR server.

- :mod:`conformance.validation`: the StructureDefinition-driven validation engine and its registry;
- :mod:`conformance.ops`: the FHIR operations this package registers on the server;
- :mod:`conformance.hl7`: agreement with HL7's reference validator over its test cases;
- :mod:`conformance.runner`: scenarios, TestScript execution and reports against a base URL.
"""
