"""Control characters in client input (R4 datatypes.html#string): refused with 400, never a 500.

"Strings SHALL NOT contain Unicode character points below 32, except for u0009 (horizontal tab),
u0010 (carriage return) and u0013 (line feed)" (the spec's numbers are decimal: U+0009, U+000D,
U+000A). PostgreSQL cannot store U+0000 in text or jsonb at all, which used to surface as a 500.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from fhir_server.fhir.json import parse_body
from tests.helpers import FHIR_JSON, assert_outcome, patient

NUL_PATIENT = b'{"resourceType":"Patient","name":[{"family":"a\\u0000b"}]}'


def _post(client: httpx.Client, url: str, body: bytes, **headers: str) -> httpx.Response:
    return client.post(url, content=body, headers={**FHIR_JSON, **headers})


def test_nul_in_a_string_is_400_with_the_element_path(client: httpx.Client) -> None:
    body = assert_outcome(_post(client, "/Patient", NUL_PATIENT), 400, "value")
    assert body["issue"][0]["expression"] == ["Patient.name[0].family"]
    # the keep-alive connection still serves the next request
    created = client.post("/Patient", json=patient(), headers=FHIR_JSON)
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("escape", ["\\u0000", "\\u0001", "\\u001f", "\\u000b", "\\u000C", "\\b", "\\f"])
def test_every_forbidden_control_character_is_refused(client: httpx.Client, escape: str) -> None:
    raw = '{"resourceType":"Patient","identifier":[{"system":"urn:x","value":"v' + escape + '"}]}'
    body = assert_outcome(_post(client, "/Patient", raw.encode()), 400)
    assert body["issue"][0]["expression"] == ["Patient.identifier[0].value"]


def test_tab_cr_lf_are_allowed(client: httpx.Client) -> None:
    raw = b'{"resourceType":"Patient","name":[{"family":"a\\tb\\r\\nc"}]}'
    resp = _post(client, "/Patient", raw)
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"][0]["family"] == "a\tb\r\nc"


def test_escaped_backslash_before_u0000_text_is_plain_text(client: httpx.Client) -> None:
    # "a\\u0000b" in JSON is the six characters \u0000 in the middle: no control character
    resp = _post(client, "/Patient", b'{"resourceType":"Patient","name":[{"family":"a\\\\u0000b"}]}')
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"][0]["family"] == "a\\u0000b"


def test_nul_in_reference_and_identifier_system(client: httpx.Client) -> None:
    obs = (b'{"resourceType":"Observation","status":"final","code":{"text":"x"},'
           b'"subject":{"reference":"Patient/a\\u0000"}}')
    body = assert_outcome(_post(client, "/Observation", obs), 400)
    assert body["issue"][0]["expression"] == ["Observation.subject.reference"]
    pat = b'{"resourceType":"Patient","identifier":[{"system":"urn:\\u0000","value":"1"}]}'
    assert_outcome(_post(client, "/Patient", pat), 400)


def test_nul_in_a_key_is_400(client: httpx.Client) -> None:
    assert_outcome(_post(client, "/Patient", b'{"resourceType":"Patient","a\\u0000":1}'), 400)


def test_nul_in_the_read_id_is_400(client: httpx.Client) -> None:
    assert_outcome(client.get("/Patient/a%00b"), 400)
    assert_outcome(client.get("/Patient/a%00b/_history/1"), 400)
    assert client.get("/metadata").status_code == 200


def test_nul_in_patches_is_400_and_changes_nothing(client: httpx.Client) -> None:
    created = client.post("/Patient", json=patient("Before"), headers=FHIR_JSON).json()
    pid = created["id"]
    jp = b'[{"op":"replace","path":"/name/0/family","value":"a\\u0000"}]'
    assert_outcome(client.patch(f"/Patient/{pid}", content=jp,
                                headers={"Content-Type": "application/json-patch+json"}), 400)
    fp = (b'{"resourceType":"Parameters","parameter":[{"name":"operation","part":['
          b'{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.name[0].family"},'
          b'{"name":"value","valueString":"a\\u0000"}]}]}')
    assert_outcome(client.patch(f"/Patient/{pid}", content=fp, headers=FHIR_JSON), 400)
    now = client.get(f"/Patient/{pid}").json()
    assert now["meta"]["versionId"] == "1" and now["name"][0]["family"] == "Before"


def test_transaction_with_nul_in_an_entry_is_400_and_writes_nothing(client: httpx.Client) -> None:
    family = "TxNul" + base64.b32encode(bytes(5)).decode()
    good = json.dumps({"resource": patient(family), "request": {"method": "POST", "url": "Patient"}})
    bad = '{"resource":{"resourceType":"Patient","name":[{"family":"a\\u0000"}]},' \
          '"request":{"method":"POST","url":"Patient"}}'
    bundle = '{"resourceType":"Bundle","type":"transaction","entry":[' + good + "," + bad + "]}"
    assert_outcome(_post(client, "/", bundle.encode()), 400)
    assert client.get("/Patient", params={"family:exact": family}).json().get("total", 0) == 0


def test_batch_entry_with_nul_fails_alone(client: httpx.Client) -> None:
    created = client.post("/Patient", json=patient("BatchNul"), headers=FHIR_JSON).json()
    pid = created["id"]
    jp = base64.b64encode(b'[{"op":"replace","path":"/name/0/family","value":"a\\u0000"}]').decode()
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient("BatchOk"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": jp},
         "request": {"method": "PATCH", "url": f"Patient/{pid}"}},
    ]}
    raw = json.dumps(bundle)[:-2] + ', {"resource":{"resourceType":"Patient","id":"batchnul",' \
        '"name":[{"family":"a\\u0000b"}]},"request":{"method":"PUT","url":"Patient/batchnul"}},' \
        ' {"request":{"method":"GET","url":"Patient/x\\u0000"}}]}'
    resp = _post(client, "/", raw.encode())
    assert resp.status_code == 200, resp.text
    entries = resp.json()["entry"]
    assert entries[0]["response"]["status"].startswith("201")
    for failed in entries[1:]:
        assert failed["response"]["status"].startswith("400"), failed
        assert failed["response"]["outcome"]["resourceType"] == "OperationOutcome"
    issue = entries[2]["response"]["outcome"]["issue"][0]
    assert issue["code"] == "value" and issue["expression"] == ["Patient.name[0].family"]
    assert client.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "1"
    assert_outcome(client.get("/Patient/batchnul"), 404)


def test_parse_body_finds_the_offending_path() -> None:
    with pytest.raises(Exception) as caught:
        parse_body(b'{"resourceType":"Patient","contact":[{"name":{"given":["x","y\\u0007"]}}]}')
    assert getattr(caught.value, "expression", None) == ["Patient.contact[0].name.given[1]"]
    assert parse_body(b'{"a":"\\\\b\\\\f\\\\u0000"}') == {"a": "\\b\\f\\u0000"}


def test_batch_entries_with_nul_in_urls_and_conditions_each_get_an_outcome(client: httpx.Client) -> None:
    nul = "\u0000"
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient("CondNul"), "request": {"method": "POST", "url": "Patient",
                                                       "ifNoneExist": f"identifier=a{nul}"}},
        {"request": {"method": "DELETE", "url": f"Patient?identifier=x{nul}"}},
        {"request": {"method": "DELETE", "url": f"Patient/x{nul}"}},
        {"request": {"method": "GET", "url": f"Patient?name=x{nul}"}},
        {"request": {"method": "GET", "url": f"Patient/x{nul}/_history"}},
        {"request": {"method": "GET", "url": f"Patient/x{nul}/_history/1"}},
    ]}
    resp = client.post("/", json=bundle, headers=FHIR_JSON)
    assert resp.status_code == 200, resp.text
    for entry in resp.json()["entry"]:
        assert entry["response"]["status"][:1] == "4", entry
        assert entry["response"]["outcome"]["resourceType"] == "OperationOutcome"


def test_triage_with_nul_in_symptoms_is_400(client: httpx.Client) -> None:
    pid = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    body = (b'{"resourceType":"Parameters","parameter":[{"name":"symptoms","valueString":"chest pain\\u0000"}]}')
    assert_outcome(_post(client, f"/Patient/{pid}/$triage", body), 400)
    assert_outcome(client.post(f"/Patient/{pid}/$triage?symptoms=chest%20pain%00"), 400)


def test_chat_frame_with_nul_is_refused() -> None:
    from fhir_server.chat.protocol import ChatError, parse

    with pytest.raises(ChatError) as caught:
        parse('{"type":"send","to":["Patient/1"],"text":"a\\u0000b"}')
    assert caught.value.status == 400
    assert parse('{"type":"send","to":["Patient/1"],"text":"a\\tb"}')["text"] == "a\tb"


def test_dom2_and_dom3_are_enforced_on_write(client: httpx.Client) -> None:
    # DomainResource dom-2 (no nested contained) and dom-3 (contained resources are referenced): R4 errors
    nested = {"resourceType": "Patient", "contained": [
        {"resourceType": "Patient", "id": "c1", "contained": [{"resourceType": "Patient", "id": "c2"}]}]}
    body = assert_outcome(client.post("/Patient", json=nested, headers=FHIR_JSON), 422, "invariant")
    found = {i["diagnostics"].split(":")[1].strip() for i in body["issue"]}
    assert found == {"dom-2", "dom-3"}
    unreferenced = patient(contained=[{"resourceType": "Organization", "id": "o", "name": "x"}])
    assert_outcome(client.put("/Patient/dom3", json={**unreferenced, "id": "dom3"}, headers=FHIR_JSON), 422)
    assert_outcome(client.get("/Patient/dom3"), 404)
    referenced = {**unreferenced, "managingOrganization": {"reference": "#o"}}
    assert client.post("/Patient", json=referenced, headers=FHIR_JSON).status_code == 201
    # $validate reports each once
    report = client.post("/Patient/$validate", json=nested, headers=FHIR_JSON).json()
    found_errors = sorted((i["diagnostics"].split(":")[1].strip(), i["expression"][0])
                          for i in report["issue"] if i["severity"] == "error")
    assert found_errors == [("dom-2", "Patient"), ("dom-3", "Patient"),
                            ("dom-3", "Patient.contained[0].ofType(Patient)")], report


def test_everything_checks_its_parameters_and_body(client: httpx.Client) -> None:
    pid = client.post("/Patient", json=patient(), headers=FHIR_JSON).json()["id"]
    url = f"/Patient/{pid}/$everything"
    assert client.get(url).status_code == 200
    assert_outcome(client.get(url, params={"_count": "-1"}), 400)
    assert_outcome(client.get(url, params={"start": "2020", "end": "2000"}), 400)
    assert client.get(url, params={"start": "2020", "end": "2020"}).status_code == 200
    # operations.html#request: a POST carries Parameters; a Patient body must not be ignored silently
    assert_outcome(client.post(url, json=patient(), headers=FHIR_JSON), 400)
    params = {"resourceType": "Parameters", "parameter": [{"name": "_count", "valueInteger": 5}]}
    assert client.post(url, json=params, headers=FHIR_JSON).status_code == 200
    # operations that take one resource still accept it as the body ($validate)
    assert client.post("/Patient/$validate", json=patient(), headers=FHIR_JSON).status_code == 200


def test_no_op_patches_make_no_version(client: httpx.Client) -> None:
    created = client.post("/Patient", json=patient("NoOp"), headers=FHIR_JSON).json()
    pid = created["id"]
    empty_json_patch = client.patch(f"/Patient/{pid}", content=b"[]",
                                    headers={"Content-Type": "application/json-patch+json"})
    assert empty_json_patch.status_code == 200, empty_json_patch.text
    assert empty_json_patch.headers["etag"] == 'W/"1"'
    same = [{"op": "replace", "path": "/name/0/family", "value": "NoOp"}]
    resp = client.patch(f"/Patient/{pid}", json=same, headers={"Content-Type": "application/json-patch+json"})
    assert resp.status_code == 200 and resp.headers["etag"] == 'W/"1"'
    empty_params = {"resourceType": "Parameters"}
    assert client.patch(f"/Patient/{pid}", json=empty_params, headers=FHIR_JSON).headers["etag"] == 'W/"1"'
    history = client.get(f"/Patient/{pid}/_history").json()
    assert history["total"] == 1
    changed = [{"op": "replace", "path": "/name/0/family", "value": "Other"}]
    resp = client.patch(f"/Patient/{pid}", json=changed, headers={"Content-Type": "application/json-patch+json"})
    assert resp.headers["etag"] == 'W/"2"'


def test_if_modified_since_on_read(client: httpx.Client) -> None:
    created = client.post("/Patient", json=patient(), headers=FHIR_JSON)
    pid = created.json()["id"]
    last_modified = created.headers["last-modified"]
    unchanged = client.get(f"/Patient/{pid}", headers={"If-Modified-Since": last_modified})
    assert unchanged.status_code == 304 and unchanged.headers["etag"] == 'W/"1"'
    old = client.get(f"/Patient/{pid}", headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert old.status_code == 200
    assert client.get(f"/Patient/{pid}", headers={"If-Modified-Since": "yesterday"}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3)
    both = client.get(f"/Patient/{pid}", headers={"If-Modified-Since": last_modified, "If-None-Match": 'W/"7"'})
    assert both.status_code == 200
