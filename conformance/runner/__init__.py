"""``fhir-conformance``: a conformance runner for any FHIR R4 server (http://hl7.org/fhir/R4/testing.html).

It runs suites of scenarios against a base URL (REST semantics, search semantics on data it creates
and removes under a unique tag, transactions, SMART discovery, the CapabilityStatement's accuracy)
and FHIR TestScript resources, and reports to the console, JUnit XML and a self-contained HTML page.
"""
