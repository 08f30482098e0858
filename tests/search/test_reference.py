"""reference parameters (R4 search.html#reference, #chaining, #has): [id], [type]/[id], absolute URLs,
:[type], :identifier, :missing; chains to any depth; reverse chains (_has), nested; _list."""

from __future__ import annotations

import pytest

from tests.helpers import assert_outcome
from tests.search import data
from tests.search.conftest import Searcher


def test_reference_forms(s: Searcher) -> None:
    pat1 = {"obs-1", "obs-4"}
    assert s.ids("/Observation?subject=pat-1") == pat1
    assert s.ids("/Observation?subject=Patient/pat-1") == pat1
    assert s.ids(f"/Observation?subject={s.base}/Patient/pat-1") == pat1  # absolute URL of this server
    assert s.ids("/Observation?subject:Patient=pat-1") == pat1
    assert s.ids("/Observation?patient=pat-1") == pat1
    assert s.ids("/Observation?subject:Group=pat-1") == set()
    assert s.ids("/Observation?subject=pat-1,Patient/pat-2") == pat1 | {"obs-2", "obs-5"}
    assert s.ids("/Observation?subject=Patient/nope") == set()
    # an external absolute URL is matched as written
    assert s.ids("/Observation?subject=http://other.example.org/fhir/Patient/ext-1") == {"obs-7"}
    assert s.ids("/Observation?subject=ext-1") == set()
    # Reference.identifier
    assert s.ids("/Observation?performer:identifier=urn:npi|NPI-9") == {"obs-8"}
    assert s.ids("/Observation?performer:identifier=NPI-9") == {"obs-8"}
    assert s.ids("/Observation?performer:identifier=urn:other|NPI-9") == set()
    # missing
    assert s.ids("/Observation?subject:missing=true") == {"obs-9"}
    assert s.ids("/Observation?encounter:missing=false") == {"obs-1"}
    assert s.ids("/Patient?general-practitioner=Practitioner/prac-1") == {"pat-1"}
    assert s.ids("/Encounter?participant=prac-1") == {"enc-1"}


def test_reference_type_modifier_must_be_a_target(s: Searcher) -> None:
    assert_outcome(s.get("/Observation?subject:Nonsense=1"), 400)
    assert_outcome(s.get("/Patient?general-practitioner:Observation=1"), 400)


@pytest.mark.parametrize(("query", "expected"), [
    ("subject:Patient.name=muller", {"obs-1", "obs-2", "obs-4", "obs-5", "obs-6"}),
    ("subject.name=muller", {"obs-1", "obs-2", "obs-4", "obs-5", "obs-6"}),  # through every target type
    ("patient.gender=male", {"obs-2", "obs-5"}),
    ("patient.gender:not=male", {"obs-1", "obs-3", "obs-4", "obs-6", "obs-8"}),
    ("patient._id=pat-3", {"obs-3", "obs-8"}),
    ("patient.birthdate=1970-01", {"obs-1", "obs-2", "obs-4", "obs-5", "obs-6"}),
    # two and three links
    ("subject:Patient.general-practitioner:Practitioner.family=welby", {"obs-1", "obs-4"}),
    ("subject:Patient.general-practitioner.name=kildare", {"obs-2", "obs-5"}),
    ("subject:Patient.organization.partof.name=parent", {"obs-1", "obs-4"}),
    ("encounter.service-provider.name=acme", {"obs-1"}),
    # chained, then AND-ed with a local parameter
    ("patient.name=muller&code=http://loinc.org|8480-6", {"obs-1"}),
])
def test_chains(s: Searcher, query: str, expected: set[str]) -> None:
    assert s.ids(f"/Observation?{query}") == expected


def test_chains_from_other_types(s: Searcher) -> None:
    assert s.ids("/Patient?general-practitioner.family=kildare") == {"pat-2"}
    assert s.ids("/Patient?organization.partof.name=parent") == {"pat-1"}
    assert s.ids("/Patient?organization.identifier=urn:org|ACME") == {"pat-1"}
    assert s.ids("/Encounter?patient.address-city=berlin") == {"enc-2"}


def test_chain_errors(s: Searcher) -> None:
    assert_outcome(s.get("/Observation?code.name=x"), 400)  # a token cannot be chained
    five = "subject:Patient.organization.partof.partof.partof.partof.name=x"
    assert_outcome(s.get(f"/Observation?{five}"), 400)
    # an unknown parameter at the end of a chain is not applied (reported), like any unknown parameter
    body = s.bundle("/Observation?subject:Patient.nonsense=1")
    assert body["entry"][-1]["search"]["mode"] == "outcome"


@pytest.mark.parametrize(("path", "expected"), [
    ("/Patient?_has:Observation:patient:code=8480-6", {"pat-1", "pat-3"}),
    ("/Patient?_has:Observation:subject:value-quantity=gt100", {"pat-1", "pat-3"}),
    ("/Patient?_has:Observation:patient:code=8480-6&gender=female", {"pat-1"}),
    ("/Patient?_has:Observation:patient:code=8480-6,8867-4", {"pat-1", "pat-2", "pat-3"}),
    ("/Patient?_has:Observation:patient:code=8480-6&_has:Observation:patient:code=2339-0", {"pat-1"}),
    ("/Patient?_has:Encounter:subject:class=AMB", {"pat-3"}),
    ("/Organization?_has:Patient:organization:gender=other", {"org-2"}),
    # nested: practitioners who are the GP of a patient who has a heart-rate observation
    ("/Practitioner?_has:Patient:general-practitioner:_has:Observation:patient:code=8867-4", {"prac-2"}),
    # _has with a chain inside
    ("/Practitioner?_has:Patient:general-practitioner:organization.name=acme", {"prac-1"}),
    ("/Patient?_has:Observation:patient:code=nothing", set()),
])
def test_reverse_chains(s: Searcher, path: str, expected: set[str]) -> None:
    assert s.ids(path) == expected


def test_has_errors(s: Searcher) -> None:
    assert_outcome(s.get("/Patient?_has:Observation:patient=1"), 400)
    assert_outcome(s.get("/Patient?_has:Nope:patient:code=1"), 400)
    assert_outcome(s.get("/Patient?_has:Observation:encounter:code=1"), 400)  # encounter never refers to a Patient
    deep = "_has:Observation:patient:" * 6 + "code=1"
    assert_outcome(s.get(f"/Patient?{deep}"), 400)


def test_list(s: Searcher) -> None:
    assert s.ids("/Patient?_list=list-1") == {"pat-2", "pat-5"}
    assert s.ids("/Patient?_list=list-1&gender=male") == {"pat-2"}
    assert s.ids("/Patient?_list=nope") == set()
    assert s.ids("/Observation?_list=list-1") == set()
    assert s.ids("/Patient?_list=list-1") <= data.ALL_PATIENTS
