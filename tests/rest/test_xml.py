"""FHIR XML over REST (R4 http.html#mime-type, xml.html): XML bodies in, XML out by _format or Accept."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx

from tests.helpers import FHIR_JSON, patient

NS = "{http://hl7.org/fhir}"
FHIR_XML = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+xml"}


def test_create_from_xml_and_read_back_in_both_formats(client: httpx.Client) -> None:
    body = ('<Patient xmlns="http://hl7.org/fhir"><active value="true"/>'
            '<name><family value="Xmlson"/><given value="Ann"/></name><gender value="female"/>'
            '<birthDate value="1980-02-03"/></Patient>')
    created = client.post("/Patient", content=body, headers=FHIR_XML)
    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/fhir+xml")
    root = ET.fromstring(created.content)
    assert root.tag == NS + "Patient"
    pid = root.find(NS + "id").attrib["value"]
    as_json = client.get(f"/Patient/{pid}").json()
    assert as_json["name"] == [{"family": "Xmlson", "given": ["Ann"]}]
    assert as_json["active"] is True and as_json["birthDate"] == "1980-02-03"
    as_xml = client.get(f"/Patient/{pid}", params={"_format": "xml"})
    assert as_xml.headers["content-type"].startswith("application/fhir+xml")
    assert ET.fromstring(as_xml.content).find(NS + "gender").attrib["value"] == "female"


def test_search_bundle_and_errors_in_xml(client: httpx.Client) -> None:
    client.post("/Patient", json=patient("Bundlexml"), headers=FHIR_JSON)
    found = client.get("/Patient", params={"family": "Bundlexml"}, headers={"Accept": "application/fhir+xml"})
    root = ET.fromstring(found.content)
    assert root.tag == NS + "Bundle"
    assert root.find(NS + "type").attrib["value"] == "searchset"
    assert root.find(f"{NS}entry/{NS}resource/{NS}Patient/{NS}name/{NS}family").attrib["value"] == "Bundlexml"
    missing = client.get("/Patient/not-there", headers={"Accept": "application/fhir+xml"})
    assert missing.status_code == 404
    assert ET.fromstring(missing.content).tag == NS + "OperationOutcome"


def test_malformed_or_foreign_xml_is_400(client: httpx.Client) -> None:
    for body in ("<Patient xmlns='http://hl7.org/fhir'><name>", "<NotAResource/>", "just text"):
        resp = client.post("/Patient", content=body, headers={"Content-Type": "application/fhir+xml"})
        assert resp.status_code == 400, body


def test_xml_transaction(client: httpx.Client) -> None:
    bundle = ('<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/>'
              '<entry><fullUrl value="urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"/><resource>'
              '<Patient><name><family value="Txml"/></name></Patient></resource>'
              '<request><method value="POST"/><url value="Patient"/></request></entry>'
              '<entry><resource><Observation><status value="final"/><code><text value="x"/></code>'
              '<subject><reference value="urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"/></subject>'
              '</Observation></resource><request><method value="POST"/><url value="Observation"/></request>'
              '</entry></Bundle>')
    resp = client.post("/", content=bundle, headers=FHIR_XML)
    assert resp.status_code == 200
    root = ET.fromstring(resp.content)
    locations = [e.attrib["value"] for e in root.iter(NS + "location")]
    obs = client.get("/" + locations[1].split("/_history")[0]).json()
    assert obs["subject"]["reference"] == locations[0].split("/_history")[0]
