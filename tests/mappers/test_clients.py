"""The ZocDoc and Google Maps httpx clients against the fake servers (real HTTP on 127.0.0.1): OAuth client
credentials, paging, chunking of availability calls, retries with backoff on 429/5xx, no retry of a
booking that may have reached ZocDoc, field masks and legacy status handling."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from mappers.http import ExternalError, RetryPolicy
from mappers.maps_client import MapsClient, MapsConfig
from mappers.zocdoc_client import ZocDocClient, ZocDocConfig, ZocDocError
from tests.fixtures.fake_maps import API_KEY, FakeMaps
from tests.fixtures.fake_zocdoc import CLIENT_ID, CLIENT_SECRET, FakeZocDoc
from tests.fixtures.serve import payload

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def zd() -> Iterator[FakeZocDoc]:
    fake = FakeZocDoc().start()
    for i in range(5):
        pl = payload("zocdoc/provider-locations.response")["data"]["provider_locations"][0]
        pl["provider_location_id"] = f"pr_{i}|lo_{i}"
        fake.add_provider_location(pl)
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gm() -> Iterator[FakeMaps]:
    fake = FakeMaps().start()
    yield fake
    fake.stop()


def zocdoc_call(fake: FakeZocDoc, fn: Any, secret: str = CLIENT_SECRET) -> Any:
    async def run() -> Any:
        client = ZocDocClient(ZocDocConfig(fake.url, fake.url + "/oauth/token", CLIENT_ID, secret, retry=FAST))
        try:
            return await fn(client)
        finally:
            await client.aclose()
    return asyncio.run(run())


def test_token_and_page_numbers(zd: FakeZocDoc) -> None:
    zd.requests.clear()
    found = zocdoc_call(zd, lambda cl: cl.provider_locations("10013", specialty_id="sp_901", page_size=2))
    assert [pl["provider_location_id"] for pl in found] == [f"pr_{i}|lo_{i}" for i in range(5)]
    assert [p for _, p in zd.requests].count("/v1/provider_locations") == 3  # pages 0, 1, 2
    assert [p for _, p in zd.requests].count("/oauth/token") == 1  # the token is reused
    with pytest.raises(ZocDocError) as err:
        zocdoc_call(zd, lambda cl: cl.provider_locations("10013", specialty_id="sp_901"), secret="wrong")
    assert err.value.status == 401 and "Unauthorized" in err.value.message


def test_errors_carry_zocdoc_messages(zd: FakeZocDoc) -> None:
    with pytest.raises(ZocDocError) as err:
        zocdoc_call(zd, lambda cl: cl.provider_locations("1001"))
    assert err.value.status == 400 and "zip_code: zip_code is required" in err.value.message
    with pytest.raises(ZocDocError) as err:
        zocdoc_call(zd, lambda cl: cl.provider_location("pr_x|lo_none"))
    assert err.value.status == 404


def test_availability_is_split_into_allowed_calls(zd: FakeZocDoc) -> None:
    zd.requests.clear()
    ids = [f"pr_{i}|lo_{i}" for i in range(120)]  # at most 50 ids a call
    got = zocdoc_call(zd, lambda cl: cl.availability(ids, "pc_1", date(2030, 1, 1), date(2030, 3, 1)))
    calls = [p for _, p in zd.requests if p.endswith("/availability")]
    assert len(calls) == 3 * 2  # 3 chunks of ids x 2 windows of at most 31 days (Jan 1 - Feb 1, Feb 2 - Mar 1)
    assert len(got) == 120 * 2 and all(e["timeslots"] == [] for e in got)


def test_retries_with_backoff_on_429_and_5xx(zd: FakeZocDoc) -> None:
    zd.requests.clear()
    zd.fail_next = [429, 503, 502]
    got = zocdoc_call(zd, lambda cl: cl.provider_locations("10013", specialty_id="sp_901"))
    assert len(got) == 5 and zd.fail_next == []
    zd.fail_next = [500] * 4
    with pytest.raises(ZocDocError) as err:
        zocdoc_call(zd, lambda cl: cl.provider_locations("10013", specialty_id="sp_901"))
    assert err.value.status == 500
    zd.fail_next = []


def test_a_booking_is_not_repeated_after_a_5xx(zd: FakeZocDoc) -> None:
    async def book(cl: ZocDocClient) -> Any:
        await cl.token()
        zd.requests.clear()
        zd.fail_next = [503]
        return await cl.book({"appointment_type": "providers", "data": {}})

    with pytest.raises(ZocDocError) as err:
        zocdoc_call(zd, book)
    assert err.value.status == 503 and [p for _, p in zd.requests].count("/v1/appointments") == 1
    zd.fail_next = [429]  # 429: not processed, so safe to send again (then ZocDoc validates it: 400)

    async def book_again(cl: ZocDocClient) -> Any:
        return await cl.book({"appointment_type": "providers", "data": {}})

    with pytest.raises(ZocDocError) as err:
        zocdoc_call(zd, book_again)
    assert err.value.status == 400


def test_an_expired_token_is_renewed_once(zd: FakeZocDoc) -> None:
    async def run(cl: ZocDocClient) -> Any:
        await cl.token()
        zd.tokens.clear()  # ZocDoc forgot it: the next call gets 401 and fetches a new token
        return await cl.provider_locations("10013", specialty_id="sp_901")

    assert len(zocdoc_call(zd, run)) == 5


def test_unreachable_service() -> None:
    async def run() -> None:
        client = ZocDocClient(ZocDocConfig("http://127.0.0.1:9", "http://127.0.0.1:9/oauth/token", "a", "b",
                                           retry=FAST))
        try:
            await client.token()
        finally:
            await client.aclose()

    with pytest.raises(ExternalError, match="cannot connect"):
        asyncio.run(run())


def maps_call(fake: FakeMaps, fn: Any, key: str = API_KEY) -> Any:
    async def run() -> Any:
        client = MapsClient(MapsConfig(key, fake.url, fake.url, retry=FAST, page_token_delay=0))
        try:
            return await fn(client)
        finally:
            await client.aclose()
    return asyncio.run(run())


def test_places_new_api(gm: FakeMaps) -> None:
    got = maps_call(gm, lambda cl: cl.search_nearby(40.7199, -74.0031, 1500, ["doctor"]))
    assert [p["id"] for p in got["places"]] == ["ChIJFAKEplaceid0000000001"]
    assert set(got["places"][0]) <= {"id", "displayName", "types", "primaryType", "formattedAddress",
                                     "addressComponents", "location", "nationalPhoneNumber", "websiteUri",
                                     "googleMapsUri", "businessStatus"}
    with pytest.raises(ExternalError) as err:
        maps_call(gm, lambda cl: cl.search_nearby(40.7, -74.0, 60000))
    assert err.value.status == 400 and "radius" in err.value.message
    with pytest.raises(ExternalError) as err:
        maps_call(gm, lambda cl: cl.search_nearby(40.7, -74.0, 100), key="wrong")
    assert err.value.status == 403


def test_text_search_pages(gm: FakeMaps) -> None:
    for i in range(25):
        gm.add_place(f"ChIJpage{i:02d}", f"Paging Clinic {i}", 10.0, 10.0 + i / 1000, ["doctor"], f"{i} Page St")
    pages = maps_call(gm, lambda cl: cl.search_text("paging clinic", page_size=10))
    assert [len(p["places"]) for p in pages] == [10, 10, 5]
    legacy = maps_call(gm, lambda cl: cl.nearby_legacy(10.0, 10.01, 5000, "doctor"))
    assert [len(p["results"]) for p in legacy] == [20, 5] and legacy[0]["status"] == "OK"


def test_legacy_status_handling(gm: FakeMaps) -> None:
    gm.over_query_limit = 2  # retried: OVER_QUERY_LIMIT is transient
    got = maps_call(gm, lambda cl: cl.geocode("45 Placeholder Lane, New York, NY 10013"))
    assert got["status"] == "OK" and gm.over_query_limit == 0
    denied = maps_call(gm, lambda cl: cl.geocode("anything"), key="wrong")
    assert denied["status"] == "REQUEST_DENIED"  # HTTP 200 with a status: the mapper turns it into an error
    gm.fail_next = [503, 500]
    assert maps_call(gm, lambda cl: cl.geocode("nowhere at all"))["status"] == "ZERO_RESULTS"
