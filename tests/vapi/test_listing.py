"""The batched call listing against the emulator over loopback: pages of GET /call, never one GET per call."""

from __future__ import annotations

import anyio

from tests.conftest import API_KEY
from tests.vapi.common import REQUEST
from vapi_mcp.emulator import Emulator
from vapi_mcp.vapi import VapiClient
from vapi_mcp.vapi.listing import calls_created_since


async def test_pages_cover_every_call_created_since(emulator: Emulator) -> None:
    assert emulator.base_url is not None
    async with VapiClient(API_KEY, emulator.base_url) as client:
        old = await client.create_call(REQUEST)
        await anyio.sleep(0.01)
        ids: list[str] = []
        for _ in range(7):  # createdAt has milliseconds: distinct instants, as real calls have
            ids.append((await client.create_call(REQUEST)).id)
            await anyio.sleep(0.003)
        since = emulator.calls[ids[0]].to_api()["createdAt"]
        before = len(emulator.request_log)
        found = await calls_created_since(client, since, page=3)
    lists = [r for r in emulator.request_log[before:] if r.method == "GET"]
    assert set(found) == set(ids) and old.id not in found
    assert all(r.path == "/call" for r in lists), "no GET /call/{id}"
    # 7 calls in pages of 3, each page after the first repeating the oldest call of the one before.
    assert 3 <= len(lists) <= 4


async def test_only_the_calls_asked_for_are_read_and_paging_still_covers_the_rest(emulator: Emulator) -> None:
    """A replica polls the fleet's list for its own calls: the others are paged over, never parsed."""
    assert emulator.base_url is not None
    async with VapiClient(API_KEY, emulator.base_url) as client:
        ids: list[str] = []
        for _ in range(7):
            ids.append((await client.create_call(REQUEST)).id)
            await anyio.sleep(0.003)
        since = emulator.calls[ids[0]].to_api()["createdAt"]
        mine = {ids[0], ids[4]}  # the oldest sits on the last page: every page must be walked
        found = await calls_created_since(client, since, page=3, only=mine)
        page = await client.list_call_page(limit=10, only={ids[6]}, created_at_ge=since)
    assert set(found) == mine and all(call.id == call_id for call_id, call in found.items())
    assert [call.id for call in page.calls] == [ids[6]] and set(page.ids) == set(ids)
    assert page.oldest == since, "the oldest createdAt of the page, read from calls that were not parsed too"
