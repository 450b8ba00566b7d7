"""The fleet's hashes and index on the real Redis."""

from __future__ import annotations

from tests.store.shared.helpers import DEAD_URL, linked
from vapi_mcp.store.shared.fleet import Fleet


async def test_calls_in_hashes_and_the_index(redis_prefix: str) -> None:
    async with linked(redis_prefix, "a") as la, linked(redis_prefix, "b") as lb:
        a, b = Fleet(la), Fleet(lb)
        await a.put("c1", {"call": '{"id":"c1"}', "listen": "1"})
        await a.put("c2", {"call": '{"id":"c2"}'})
        await a.put("c1", {"summary": "{}"})
        assert await b.call_ids() == ["c1", "c2"]
        assert await b.get("c1") == {"call": '{"id":"c1"}', "listen": "1", "summary": "{}"}
        assert b.get_now("c1", "listen", "recorder") == {"listen": "1"}
        await a.expire("c2", 1000)
        assert await la.aio.ttl(a.key("c2")) > 0


async def test_without_redis_a_read_answers_none() -> None:
    async with linked("vapi-mcp-test-dead:", "a", url=DEAD_URL) as link:
        assert Fleet(link).get_now("c1", "call") is None
