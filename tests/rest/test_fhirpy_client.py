"""A real FHIR client library (fhirpy) creates, reads, updates and deletes through the running server."""

from __future__ import annotations

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound

from tests.conftest import LiveServer


def test_fhirpy_crud(live: LiveServer) -> None:
    client = SyncFHIRClient(live.base)
    pat = client.resource("Patient", name=[{"family": "Fhirpy", "given": ["Client"]}], gender="female")
    pat.save()
    assert pat.id
    assert pat["meta"]["versionId"] == "1"
    fetched = client.reference("Patient", pat.id).to_resource()
    assert fetched["name"][0]["family"] == "Fhirpy"
    fetched["gender"] = "male"
    fetched.save()
    assert fetched["meta"]["versionId"] == "2"
    again = client.reference("Patient", pat.id).to_resource()
    assert again["gender"] == "male"
    again.delete()
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", pat.id).to_resource()
