"""FHIR XML → JSON against HL7's own JSON renderings of the same examples (fhir-test-cases)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from fhir_server.formats.xml_in import FhirXmlError, parse_resource
from tests.fhirpath.hl7_suite import DATA

PAIRS = ["observation-decimal", "organization-1", "patient-example"]


def _canonical(xhtml: str) -> str:
    return ET.canonicalize(xhtml, strip_text=True)


@pytest.mark.parametrize("name", PAIRS)
def test_xml_matches_hl7_json(name: str) -> None:
    got = parse_resource((DATA / "xml_json" / f"{name}.xml").read_bytes())
    expected = json.loads((DATA / "xml_json" / f"{name}.json").read_text(), parse_float=Decimal)
    got_div, expected_div = got.get("text", {}).pop("div", None), expected.get("text", {}).pop("div", None)
    assert got == expected
    if expected_div is not None:
        assert got_div is not None and _canonical(got_div) == _canonical(expected_div)


def test_decimal_precision_is_kept() -> None:
    got = parse_resource((DATA / "xml_json" / "observation-decimal.xml").read_bytes())
    values = [str(c["valueQuantity"]["value"]) for c in got["component"]]
    # as written in the XML: 1.0, 1.00, 1E-22, 1000000000000000000, 1.000000000000000000E-245, ...
    assert values[:2] == ["1.0", "1.00"]
    assert Decimal(values[3]) == Decimal("1E-22") and values[4] == "1000000000000000000"


def test_not_a_resource() -> None:
    with pytest.raises(FhirXmlError):
        parse_resource(b"<Nothing xmlns='http://hl7.org/fhir'/>")
    with pytest.raises(FhirXmlError):
        parse_resource(b"<broken")
