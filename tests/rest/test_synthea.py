"""The 50 Synthea patient Bundles load as transactions through HTTP, and every reference in them resolves."""

from __future__ import annotations

import gzip
from collections import Counter

import orjson

from fhir_server.demo import synthea_files
from tests.conftest import LiveServer
from tests.helpers import FHIR_JSON


def test_synthea_bundles_load_and_all_references_resolve(fresh: LiveServer) -> None:
    expected: Counter[str] = Counter()
    with fresh.client() as c:
        for f in synthea_files():
            bundle = orjson.loads(gzip.decompress(f.read_bytes()))
            expected.update(e["resource"]["resourceType"] for e in bundle["entry"])
            resp = c.post("/", content=orjson.dumps(bundle), headers=FHIR_JSON)
            assert resp.status_code == 200, (f.name, resp.text[:500])
            assert all(e["response"]["status"] == "201 Created" for e in resp.json()["entry"])
        stored = dict(fresh.db.execute("SELECT res_type, count(*) FROM resource GROUP BY res_type"))
        assert stored == dict(expected)
        assert sum(expected.values()) == 9306 + 204  # SOURCES.md: 9,306 patient-bundle entries + 102 + 102
        # every reference now names a stored resource: no urn:uuid left, no dangling target
        refs = fresh.db.execute(
            "SELECT DISTINCT ref #>> '{}' FROM resource, jsonb_path_query(content, 'strict $.**.reference') ref"
        )
        assert len(refs) > 5000
        assert not [r for (r,) in refs if r.startswith("urn:")]
        dangling = fresh.db.execute(
            "SELECT r FROM (SELECT DISTINCT ref #>> '{}' AS r FROM resource, "
            "jsonb_path_query(content, 'strict $.**.reference') ref) refs "
            "WHERE r NOT LIKE '#%' AND NOT EXISTS (SELECT 1 FROM resource t WHERE t.res_type || '/' || t.id = refs.r)"
        )
        assert dangling == []
        # local references (#id) point at a contained resource of the same resource
        local_dangling = fresh.db.execute(
            "SELECT id, ref #>> '{}' FROM resource, jsonb_path_query(content, 'strict $.**.reference') ref "
            "WHERE ref #>> '{}' LIKE '#%' AND NOT jsonb_path_exists(content, '$.contained[*] ? (@.id == $i)', "
            "jsonb_build_object('i', substr(ref #>> '{}', 2)))"
        )
        assert local_dangling == []
        # and through the API: a patient and one of its observations' subject
        (obs_id, subject), = fresh.db.execute(
            "SELECT id, content->'subject'->>'reference' FROM resource WHERE res_type = 'Observation' LIMIT 1"
        )
        assert c.get(f"/Observation/{obs_id}").json()["subject"]["reference"] == subject
        assert c.get(f"/{subject}").json()["resourceType"] == "Patient"
