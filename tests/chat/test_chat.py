"""Chat between a practitioner and a patient connected to two different server processes on one database
(issue 8; R4 communication.html), offline reading by search, read receipts, and privacy: a third
user — practitioner or patient — cannot read the conversation over REST or the socket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.audit.conftest import ServerProcess
from tests.chat.conftest import Person, Socket, kind, message_with, open_socket
from tests.smart_auth.conftest import bearer, token

DOC_SCOPE = "user/Communication.cruds user/Patient.rs"
PATIENT_SCOPE = "patient/Communication.crus"


@pytest.fixture(scope="module")
def people(pair: tuple[ServerProcess, ServerProcess]) -> dict[str, Person]:
    a, b = pair
    return {
        "doc": Person(a, "Practitioner", DOC_SCOPE),  # chats through process A
        "pat": Person(b, "Patient", PATIENT_SCOPE),  # chats through process B
        "other_doc": Person(a, "Practitioner", "user/*.cruds"),  # may read every Communication it is allowed
        "other_pat": Person(b, "Patient", "patient/Communication.crus"),
    }


@pytest.fixture()
def doc_socket(people: dict[str, Person]) -> Iterator[Socket]:
    with open_socket(people["doc"], "header") as sock:
        yield sock


def test_chat_across_two_server_processes(people: dict[str, Person], doc_socket: Socket) -> None:
    doc, pat = people["doc"], people["pat"]
    with open_socket(pat, "query") as pat_socket:
        doc_socket.send(type="send", to=[pat.ref], text="Hello, how are you feeling today?", ref="m1")
        sent = doc_socket.wait(kind("sent", ref="m1"))["communication"]
        assert sent["resourceType"] == "Communication" and sent["status"] == "completed"
        assert sent["sender"] == {"reference": doc.ref}
        assert sent["recipient"] == [{"reference": pat.ref}]
        assert sent["payload"] == [{"contentString": "Hello, how are you feeling today?"}]
        assert sent["sent"] and "received" not in sent
        got = pat_socket.wait(message_with(sent["id"]))["communication"]  # pushed by the other process
        assert got["payload"] == sent["payload"] and got["sender"] == {"reference": doc.ref}

        pat_socket.send(type="send", to=doc.ref, text="Much better, thank you.",
                        inResponseTo=f"Communication/{sent['id']}", ref="r1")
        reply = pat_socket.wait(kind("sent", ref="r1"))["communication"]
        answer = doc_socket.wait(message_with(reply["id"]))["communication"]
        assert answer["inResponseTo"] == [{"reference": f"Communication/{sent['id']}"}]
        assert answer["sender"] == {"reference": pat.ref} and answer["recipient"] == [{"reference": doc.ref}]

        pat_socket.send(type="read", id=sent["id"], ref="seen")
        receipt = pat_socket.wait(kind("receipt", ref="seen"))
        assert receipt["id"] == sent["id"] and receipt["received"]
        update = doc_socket.wait(message_with(sent["id"], "update"))["communication"]
        assert update["received"] == receipt["received"] and update["meta"]["versionId"] == "2"
        pat_socket.send(type="read", id=sent["id"], ref="again")  # set once
        assert pat_socket.wait(kind("receipt", ref="again"))["received"] == receipt["received"]
        stored = doc.get(f"Communication/{sent['id']}").json()
        assert stored["received"] == receipt["received"] and stored["meta"]["versionId"] == "2"


def test_offline_recipient_reads_later_by_search(people: dict[str, Person], doc_socket: Socket) -> None:
    pat = people["pat"]
    texts = ["Your results are in.", "Please book a follow-up visit."]
    ids = []
    for i, text in enumerate(texts):
        doc_socket.send(type="send", to=[pat.ref], text=text, ref=f"o{i}")
        ids.append(doc_socket.wait(kind("sent", ref=f"o{i}"))["communication"]["id"])
    found = pat.get("Communication", recipient=pat.ref, _sort="-sent", _count="50")
    assert found.status_code == 200, found.text
    entries = [e["resource"] for e in found.json()["entry"]]
    positions = [next(n for n, r in enumerate(entries) if r["id"] == i) for i in ids]
    assert positions[1] < positions[0]  # newest first
    sent_times = [r["sent"] for r in entries]
    assert sent_times == sorted(sent_times, reverse=True)
    assert [entries[p]["payload"][0]["contentString"] for p in positions] == texts


def test_a_third_user_cannot_read_the_conversation(people: dict[str, Person], doc_socket: Socket) -> None:
    doc, pat, other_doc, other_pat = people["doc"], people["pat"], people["other_doc"], people["other_pat"]
    with open_socket(other_doc, "first-frame") as watcher:
        doc_socket.send(type="send", to=[pat.ref], text="Private: your biopsy is benign.", ref="p1")
        comm_id = doc_socket.wait(kind("sent", ref="p1"))["communication"]["id"]
        watcher.send(type="ping", ref="after")
        assert watcher.next() == {"type": "pong", "ref": "after"}  # nothing was pushed to the third user
        watcher.send(type="read", id=comm_id, ref="snoop")
        snoop = watcher.wait(kind("error", ref="snoop"))
        assert snoop["status"] == 403
        for outsider in (other_doc, other_pat):
            assert outsider.get(f"Communication/{comm_id}").status_code == 403
            for params in ({"recipient": pat.ref}, {"sender": doc.ref}, {"_id": comm_id}, {}):
                found = outsider.get("Communication", **params)
                assert found.status_code == 200, found.text
                entries = found.json().get("entry", [])
                assert comm_id not in [e["resource"]["id"] for e in entries]
                assert "biopsy" not in json.dumps(entries)
            hdrs = bearer(outsider.token, **{"Content-Type": "application/fhir+json"})
            base = outsider.server.base
            assert httpx.delete(f"{base}/Communication/{comm_id}", headers=hdrs).status_code == 403
            body = {"resourceType": "Communication", "id": comm_id, "status": "completed",
                    "sender": {"reference": outsider.ref}, "recipient": [{"reference": outsider.ref}]}
            assert httpx.put(f"{base}/Communication/{comm_id}", json=body, headers=hdrs).status_code == 403
        assert doc.get(f"Communication/{comm_id}").status_code == 200  # participants read it
        assert pat.get(f"Communication/{comm_id}").status_code == 200
        assert [e["resource"]["id"] for e in pat.get("Communication", _id=comm_id).json()["entry"]] == [comm_id]
        system = token(doc.server, "system/Communication.rs")  # type: ignore[arg-type]
        assert httpx.get(f"{doc.server.base}/Communication/{comm_id}", headers=bearer(system)).status_code == 200


def test_chat_messages_are_audited(people: dict[str, Person], doc_socket: Socket) -> None:
    doc, pat = people["doc"], people["pat"]
    with open_socket(pat, "header") as pat_socket:
        doc_socket.send(type="send", to=[pat.ref], text="Audited hello", ref="a1")
        comm_id = doc_socket.wait(kind("sent", ref="a1"))["communication"]["id"]
        pat_socket.wait(message_with(comm_id))
    system = token(doc.server, "system/AuditEvent.rs")  # type: ignore[arg-type]
    deadline = time.time() + 30
    while True:
        resp = httpx.get(f"{doc.server.base}/AuditEvent", params={"entity": f"Communication/{comm_id}"},
                         headers=bearer(system))
        found = {(e["resource"]["action"], e["resource"]["agent"][0]["who"].get("reference"))
                 for e in resp.json().get("entry", [])}
        if len(found) >= 2 or time.time() > deadline:
            break
        time.sleep(0.3)
    assert found == {("C", doc.ref), ("R", pat.ref)}  # sent by the doctor, delivered to (read by) the patient
