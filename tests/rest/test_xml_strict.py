"""Strict FHIR XML input over REST (R4 xml.html, datatypes.html): what the XML rules refuse is a 400
OperationOutcome and nothing is stored. Each test is a tester's reproduction (B3, B5, B6)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from decimal import Decimal

import httpx
import pytest

from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON, assert_outcome

NS = "{http://hl7.org/fhir}"
XML_IN = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"}
FHIR = 'xmlns="http://hl7.org/fhir"'
XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'


def _stored(live: LiveServer) -> tuple[int, int]:
    """(current rows, history rows) apart from the audit trail, which a background worker writes."""
    rows = live.db.execute(
        "SELECT (SELECT count(*) FROM resource WHERE res_type <> 'AuditEvent'),"
        " (SELECT count(*) FROM resource_history WHERE res_type <> 'AuditEvent')")
    return int(rows[0][0]), int(rows[0][1])


def _refused(client: httpx.Client, live: LiveServer, url: str, body: str | bytes, expression: str | None = None,
             words: str | None = None) -> dict[str, object]:
    before = _stored(live)
    resp = client.post(url, content=body, headers=XML_IN)
    outcome = assert_outcome(resp, 400)
    assert _stored(live) == before, "nothing may be stored"
    issue = outcome["issue"][0]  # type: ignore[index]
    if expression is not None:
        assert issue.get("expression") == [expression], outcome
    if words is not None:
        assert words in issue["diagnostics"], outcome
    return outcome


def _observation_with_value(value: str) -> str:
    return (f'<Observation {FHIR}><status value="final"/><code><text value="x"/></code>'
            f'<valueQuantity><value value="{value}"/></valueQuantity></Observation>')


# B3: an XML decimal out of double range was stored and then broke reads, history and the audit worker.

@pytest.mark.parametrize("value", ["1e99999", "1" * 5000, "-1E+400", "0." + "1" * 5000, "1e-20000"])
def test_b3_xml_decimal_out_of_range_or_precision_is_400(client: httpx.Client, live: LiveServer, value: str) -> None:
    _refused(client, live, "/Observation", _observation_with_value(value), "Observation.valueQuantity.value",
             "decimal")


def test_b3_validate_reports_the_xml_decimal(client: httpx.Client) -> None:
    resp = client.post("/Observation/$validate", content=_observation_with_value("1e99999"), headers=XML_IN)
    outcome = assert_outcome(resp, 400)
    assert outcome["issue"][0]["expression"] == ["Observation.valueQuantity.value"]


def test_b3_decimals_in_range_still_keep_their_precision(client: httpx.Client) -> None:
    for value in ("1.50", "-0.0001", "1.7976931348623157e308", "6.02e23", "0"):
        created = client.post("/Observation", content=_observation_with_value(value), headers=XML_IN)
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        read = client.get(f"/Observation/{rid}")
        assert read.status_code == 200
        assert client.get(f"/Observation/{rid}/_history").status_code == 200
        as_xml = client.get(f"/Observation/{rid}", params={"_format": "xml"})
        written = ET.fromstring(as_xml.content).find(f"{NS}valueQuantity/{NS}value").attrib["value"]
        assert Decimal(written) == Decimal(value)
    kept = client.post("/Observation", content=_observation_with_value("1.50"), headers=XML_IN).json()
    assert client.get(f"/Observation/{kept['id']}", params={"_format": "xml"}).text.count('value="1.50"') == 1


def test_b3_json_path_shares_the_decimal_rule(client: httpx.Client, live: LiveServer) -> None:
    """The JSON path refused infinity already; too many digits or decimal places are refused the same way."""
    for number in ("1e99999", "1." + "1" * 100, "1e-20000"):
        body = ('{"resourceType":"Observation","status":"final","code":{"text":"x"},'
                '"valueQuantity":{"value":' + number + "}}")
        before = _stored(live)
        assert_outcome(client.post("/Observation", content=body, headers=FHIR_JSON), 400)
        assert _stored(live) == before
        validated = client.post("/Observation/$validate", content=body, headers=FHIR_JSON)
        assert validated.status_code in (200, 400)
        outcome = validated.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert any(i["severity"] == "error" for i in outcome["issue"]), outcome


@pytest.mark.parametrize(("element", "value"), [
    ("valueInteger", "2147483648"),          # integer: 32-bit signed
    ("valueInteger", "-2147483649"),
    ("valueInteger", "1" * 5000),
    ("valueInteger", "1.0"),                 # integer: -?([0]|([1-9][0-9]*))
    ("valueInteger", "007"),
    ("valueInteger", "+1"),
])
def test_b3_xml_integer_format_and_range(client: httpx.Client, live: LiveServer, element: str, value: str) -> None:
    body = (f'<Observation {FHIR}><status value="final"/><code><text value="x"/></code>'
            f'<{element} value="{value}"/></Observation>')
    _refused(client, live, "/Observation", body, f"Observation.{element}")


def test_b3_xml_positive_and_unsigned_int_ranges(client: httpx.Client, live: LiveServer) -> None:
    def sampled(dimensions: str) -> str:
        return (f'<Observation {FHIR}><status value="final"/><code><text value="x"/></code><valueSampledData>'
                f'<origin><value value="0"/></origin><period value="1"/><dimensions value="{dimensions}"/>'
                f'</valueSampledData></Observation>')

    for bad in ("0", "-1", "2147483648"):  # positiveInt: 1..2^31-1
        _refused(client, live, "/Observation", sampled(bad), "Observation.valueSampledData.dimensions")
    assert client.post("/Observation", content=sampled("3"), headers=XML_IN).json()[
        "valueSampledData"]["dimensions"] == 3

    def photo(size: str) -> str:
        return f'<Patient {FHIR}><photo><size value="{size}"/></photo></Patient>'

    for bad in ("-1", "2147483648", "4294967295", "+1"):  # unsignedInt: 0..2^31-1, no sign
        _refused(client, live, "/Patient", photo(bad), "Patient.photo[0].size")
    assert client.post("/Patient", content=photo("0"), headers=XML_IN).json()["photo"] == [{"size": 0}]


# B5: the XML parser silently stored wrong data.

def _patient(inner: str) -> str:
    return f"<Patient {FHIR}>{inner}</Patient>"


@pytest.mark.parametrize(("body", "expression", "words"), [
    (_patient('<active value="yes"/>'), "Patient.active", "boolean"),
    (_patient('<active value="True"/>'), "Patient.active", "boolean"),
    (_patient('<active value=""/>'), "Patient.active", "empty"),
    (_patient("<gender>male</gender>"), "Patient.gender", "text content"),
    (_patient('<gender value="male">male</gender>'), "Patient.gender", "text content"),
    (_patient('<name>Smith<family value="Smith"/></name>'), "Patient.name[0]", "text content"),
    (_patient("<gender/>"), "Patient.gender", "empty"),
    (_patient("<name/>"), "Patient.name[0]", "empty"),
    (_patient('<contained><Organization><name value="A"/></Organization><Organization><name value="B"/>'
              '</Organization></contained>'), "Patient.contained[0]", "exactly one resource"),
    (_patient("<contained/>"), "Patient.contained[0]", "exactly one resource"),
    (_patient("<contained><!-- nothing --></contained>"), "Patient.contained[0]", "exactly one resource"),
    ('<Patient xmlns="http://evil"><active value="true"/></Patient>', None, "namespace"),
    ('<Patient><active value="true"/></Patient>', None, "no namespace"),
    (_patient('<active xmlns="http://evil" value="true"/>'), "Patient", "namespace"),
    (_patient('<text><status value="generated"/><div><p>x</p></div></text>'), "Patient.text", "XHTML namespace"),
    (_patient('<birthDate value="1970-01-01"/><gender value="male"/>'), "Patient", "out of order"),
    (_patient('<name><given value="A"/><family value="B"/></name>'), "Patient.name[0]", "out of order"),
    (_patient('<active value="true"/><active value="false"/>'), "Patient", "more than once"),
    (_patient('<deceasedBoolean value="true"/><deceasedDateTime value="2020"/>'), "Patient", "only one of deceased[x]"),
    (_patient('<favouriteColour value="blue"/>'), "Patient", "unknown element 'favouriteColour'"),
    (_patient('<name><nickname value="B"/></name>'), "Patient.name[0]", "unknown element 'nickname'"),
    (_patient('<active value="true" colour="red"/>'), "Patient.active", "unknown attribute 'colour'"),
    (_patient('<name use="official"><family value="B"/></name>'), "Patient.name[0]", "unknown attribute 'use'"),
    (f'<Patient {FHIR} id="p1"><active value="true"/></Patient>', "Patient", "unknown attribute 'id'"),
    (_patient('<active url="http://x" value="true"/>'), "Patient.active", "unknown attribute 'url'"),
    (_patient('<name id=""><family value="B"/></name>'), "Patient.name[0]", "empty"),
    (_patient('<active value="true"><![CDATA[ ]]></active>'), None, "CDATA"),
    (_patient('<name><![CDATA[Smith]]></name>'), None, "CDATA"),
    (_patient('<active value="true"><?evil x?></active>'), "Patient.active", "processing instruction"),
    (_patient('<?evil x?><active value="true"/>'), "Patient", "processing instruction"),
])
def test_b5_xml_rules_are_enforced(client: httpx.Client, live: LiveServer, body: str, expression: str | None,
                                   words: str) -> None:
    _refused(client, live, "/Patient", body, expression, words)


@pytest.mark.parametrize("value", ["+1", ".5", "1.", "01", "1,5", "NaN", "Infinity", "0x10", " 1", "1e"])
def test_b5_decimal_pattern(client: httpx.Client, live: LiveServer, value: str) -> None:
    _refused(client, live, "/Observation", _observation_with_value(value), "Observation.valueQuantity.value",
             "not a valid decimal")


def test_b5_what_xml_allows_is_kept(client: httpx.Client) -> None:
    """Comments anywhere, ids and extension urls as attributes, the XHTML narrative (CDATA allowed in it),
    one contained resource per element, and primitives with only extensions."""
    body = (f'<?xml version="1.0" encoding="UTF-8"?><!-- before --><Patient {FHIR}><!-- a comment -->'
            f'<text><status value="generated"/><div {XHTML}><p>Hi <![CDATA[<b>&]]></p></div></text>'
            '<contained><Organization><id value="o1"/><name value="Org"/></Organization></contained>'
            '<contained><Practitioner><id value="p1"/></Practitioner></contained>'
            '<extension url="http://example.org/e"><valueDecimal value="1.50"/></extension>'
            '<active value="false"><!-- c --></active>'
            '<name id="n1"><family value="Strict"/><given value="A"/><given value="B"/></name>'
            '<birthDate><extension url="http://hl7.org/fhir/StructureDefinition/data-absent-reason">'
            '<valueCode value="unknown"/></extension></birthDate>'
            '<generalPractitioner><reference value="#p1"/></generalPractitioner>'  # dom-3: contained are referenced
            '<managingOrganization><reference value="#o1"/></managingOrganization></Patient>')
    created = client.post("/Patient", content=body, headers=XML_IN)
    assert created.status_code == 201, created.text
    got = json.loads(created.text, parse_float=Decimal)
    assert got["active"] is False
    assert got["name"] == [{"id": "n1", "family": "Strict", "given": ["A", "B"]}]
    assert [c["resourceType"] for c in got["contained"]] == ["Organization", "Practitioner"]
    assert "birthDate" not in got and got["_birthDate"]["extension"][0]["valueCode"] == "unknown"
    assert str(got["extension"][0]["valueDecimal"]) == "1.50"
    assert "&lt;b&gt;&amp;" in got["text"]["div"]


# B6: a declaration of an unknown encoding was a 500 (LookupError).

@pytest.mark.parametrize("declaration", ['encoding="bogus-9"', 'encoding="ISO-8859-1"', "encoding='UTF-16'",
                                         'encoding=""'])
def test_b6_encodings_other_than_utf8_are_400(client: httpx.Client, live: LiveServer, declaration: str) -> None:
    body = f'<?xml version="1.0" {declaration}?><Patient {FHIR}><active value="true"/></Patient>'
    _refused(client, live, "/Patient", body, None, "UTF-8")


def test_b6_utf8_declarations_and_bom_are_fine(client: httpx.Client) -> None:
    for prolog in (b'<?xml version="1.0" encoding="utf-8"?>', b"\xef\xbb\xbf", b'<?xml version="1.0"?>'):
        body = prolog + f'<Patient {FHIR}><name><family value="Ünïcødé"/></name></Patient>'.encode()
        created = client.post("/Patient", content=body, headers=XML_IN)
        assert created.status_code == 201, created.text
        assert created.json()["name"][0]["family"] == "Ünïcødé"


MALFORMED: list[bytes] = [
    b"<Patient xmlns='http://hl7.org/fhir'><name>",                       # not closed
    b"<NotAResource xmlns='http://hl7.org/fhir'/>",
    b"just text",
    b"<Patient xmlns='http://hl7.org/fhir'><active value='true'/></Patient><Patient/>",  # two roots
    b'<?xml version="1.0" encoding="bogus-9"?><Patient xmlns="http://hl7.org/fhir"/>',
    b"\xff\xfe<\x00P\x00/\x00>\x00",                                      # UTF-16
    b"<Patient xmlns='http://hl7.org/fhir'><name><family value='\xff\xfe'/></name></Patient>",  # bad UTF-8
    b"<!DOCTYPE Patient [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]>"
    b"<Patient xmlns='http://hl7.org/fhir'><name><family value='&b;'/></name></Patient>",  # DTD and entities
    b"<!DOCTYPE Patient SYSTEM 'file:///etc/passwd'><Patient xmlns='http://hl7.org/fhir'/>",
    b"<!DOCTYPE P [<!ENTITY a0 'lol'>"                                     # a billion laughs
    + b"".join(b"<!ENTITY a%d '%s'>" % (i, b"&a%d;" % (i - 1) * 10) for i in range(1, 10))
    + b"]><Patient xmlns='http://hl7.org/fhir'><name><family value='&a9;'/></name></Patient>",
    b"<Patient xmlns='http://hl7.org/fhir'><name><family value='&undefined;'/></name></Patient>",
    b"<Patient xmlns='http://hl7.org/fhir'>" + b"<extension url='http://x'>" * 5000
    + b"</extension>" * 5000 + b"</Patient>",                             # nested too deeply
    b"<Patient xmlns='http://hl7.org/fhir'><text><status value='generated'/>"
    b"<div xmlns='http://www.w3.org/1999/xhtml'>" + b"<div>" * 5000 + b"</div>" * 5000 + b"</div></text></Patient>",
    b"<Patient xmlns='http://hl7.org/fhir'><contained><Bogus/></contained></Patient>",
    b"<Patient xmlns='http://hl7.org/fhir'><contained><Patient><contained>x</contained></Patient></contained>"
    b"</Patient>",
    b"<f:Patient xmlns:f='http://hl7.org/fhir'><f:active value='maybe'/></f:Patient>",
    b"<Patient xmlns='http://hl7.org/fhir'><active value='true'/></Patient>trailing",
    b"<Patient xmlns='http://hl7.org/fhir'><multipleBirthInteger value='99999999999999999999'/></Patient>",
    b"<Patient xmlns='http://hl7.org/fhir'><\x00/></Patient>",
    b"\x00\x00\x00\x00",
    b"<Patient xmlns='http://hl7.org/fhir' xmlns:x='urn:x'><x:active value='true'/></Patient>",
]


def test_malformed_xml_documents_are_400_and_store_nothing(client: httpx.Client, live: LiveServer) -> None:
    before = _stored(live)
    for body in MALFORMED:
        for url in ("/Patient", "/Patient/$validate"):
            resp = client.post(url, content=body, headers=XML_IN)
            assert resp.status_code == 400, (body[:80], resp.status_code, resp.text[:300])
            assert resp.json()["resourceType"] == "OperationOutcome", body[:80]
        put = client.put("/Patient/strict-xml-1", content=body, headers=XML_IN)
        assert put.status_code == 400, (body[:80], put.text[:300])
    assert _stored(live) == before


def test_malformed_xml_inside_a_transaction_stores_nothing(client: httpx.Client, live: LiveServer) -> None:
    bundle = (f'<Bundle {FHIR}><type value="transaction"/>'
              '<entry><resource><Patient><name><family value="Fine"/></name></Patient></resource>'
              '<request><method value="POST"/><url value="Patient"/></request></entry>'
              '<entry><resource><Patient><active value="yes"/></Patient></resource>'
              '<request><method value="POST"/><url value="Patient"/></request></entry></Bundle>')
    _refused(client, live, "/", bundle, "Bundle.entry[1].resource.Patient.active", "boolean")


def test_capability_statement_lists_xml_and_json(client: httpx.Client) -> None:
    """R4 CapabilityStatement.format: 'xml', 'json' or MIME types; the server reads and writes both."""
    formats = client.get("/metadata").json()["format"]
    assert {"xml", "json"} <= set(formats)
    assert {"application/fhir+xml", "application/fhir+json"} <= set(formats)
