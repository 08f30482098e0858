"""FHIR XML (R4 xml.html): JSON → XML → JSON round trips on the 714 HL7 examples, XML fidelity on HL7's XML files."""

from __future__ import annotations

import gzip
import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fhir_server.formats.xml_in import FhirXmlError, parse_resource
from fhir_server.formats.xml_out import resource_to_xml

DATA = Path(__file__).resolve().parent.parent / "data"


def _examples() -> dict[str, str]:
    texts: dict[str, str] = json.loads(gzip.decompress((DATA / "hl7-examples.json.gz").read_bytes()))
    return texts


def _norm(x: Any) -> Any:
    """Numbers compared as decimals; the narrative compared as canonical XML (same XHTML, any spelling)."""
    if isinstance(x, dict):
        return {k: ET.canonicalize(v, strip_text=True) if k == "div" and isinstance(v, str) else _norm(v)
                for k, v in x.items()}
    if isinstance(x, list):
        return [_norm(v) for v in x]
    if isinstance(x, float | Decimal) and not isinstance(x, bool):
        return Decimal(str(x))
    return x


def test_every_hl7_example_round_trips_through_xml() -> None:
    failures = []
    for name, text in _examples().items():
        resource = json.loads(text, parse_float=Decimal)
        back = parse_resource(resource_to_xml(resource))
        if _norm(back) != _norm(resource):
            failures.append(name)
    assert failures == []


XML_INPUTS = sorted((DATA / "fhirpath" / "inputs").glob("*.xml"))


def _canonical(text: str) -> str:
    root = ET.fromstring(text)
    root.attrib.pop("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation", None)
    return ET.canonicalize(ET.tostring(root, encoding="unicode"), strip_text=True)


@pytest.mark.parametrize("path", XML_INPUTS, ids=[p.name for p in XML_INPUTS])
def test_hl7_xml_files_come_back_as_written(path: Path) -> None:
    original = path.read_text(encoding="utf-8-sig")
    if path.name == "observation-example.xml":
        # this test input has <status> before <extension>, against Observation's element order
        # (xml.html: elements appear in the order documented): refused as client input, read
        # leniently on request; ours comes out in the StructureDefinition order, with the same content
        with pytest.raises(FhirXmlError, match="'extension' is out of order"):
            parse_resource(original)
        lenient = parse_resource(original, strict_order=False)
        assert parse_resource(resource_to_xml(lenient)) == lenient
    else:
        again = resource_to_xml(parse_resource(original))
        assert _canonical(again) == _canonical(original)


def test_xml_rules_for_primitives_attributes_and_narrative() -> None:
    patient = {
        "resourceType": "Patient", "id": "x1",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hi &amp; bye</p></div>'},
        "extension": [{"url": "http://example.org/e", "valueDecimal": Decimal("1.50")}],
        "active": True,
        "birthDate": "1970-01-01",
        "_birthDate": {"id": "bd", "extension": [{"url": "http://example.org/t", "valueTime": "10:00:00"}]},
        "name": [{"id": "n1", "given": ["A", "B"], "_given": [None, {"extension": [
            {"url": "http://example.org/g", "valueString": "x"}]}]}],
        "contained": [{"resourceType": "Organization", "id": "o1", "name": "Org"}],
    }
    xml = resource_to_xml(patient, declaration=False)
    root = ET.fromstring(xml)
    ns = "{http://hl7.org/fhir}"
    assert root.tag == ns + "Patient"
    # element order from the StructureDefinition: id, text, contained, extension, active, name, birthDate
    assert [c.tag.replace(ns, "") for c in root][:7] == [
        "id", "text", "contained", "extension", "active", "name", "birthDate"]
    assert root.find(ns + "id").attrib == {"value": "x1"}  # Resource.id is an element, not an attribute
    assert root.find(ns + "extension").attrib == {"url": "http://example.org/e"}  # Extension.url: attribute
    assert root.find(ns + "extension/" + ns + "valueDecimal").attrib["value"] == "1.50"
    assert root.find(ns + "active").attrib["value"] == "true"
    bd = root.find(ns + "birthDate")
    assert bd.attrib == {"id": "bd", "value": "1970-01-01"}
    assert bd.find(ns + "extension/" + ns + "valueTime").attrib["value"] == "10:00:00"
    name = root.find(ns + "name")
    assert name.attrib == {"id": "n1"}  # element ids are attributes
    givens = name.findall(ns + "given")
    assert [g.attrib.get("value") for g in givens] == ["A", "B"]
    assert givens[1].find(ns + "extension").attrib["url"] == "http://example.org/g"
    assert root.find(ns + "contained/" + ns + "Organization/" + ns + "name").attrib["value"] == "Org"
    assert root.find(ns + "text/{http://www.w3.org/1999/xhtml}div/{http://www.w3.org/1999/xhtml}p").text == "Hi & bye"
    assert parse_resource(xml) == patient
