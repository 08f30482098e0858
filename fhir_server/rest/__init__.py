"""The FHIR RESTful API (http://hl7.org/fhir/R4/http.html): routes, content negotiation, responses."""
