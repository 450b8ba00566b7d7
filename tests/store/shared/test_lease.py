"""Leases on the real Redis: one holder, renewal, compare-and-delete, expiry and takeover."""

from __future__ import annotations

import anyio

from tests.store.shared.helpers import DEAD_URL, linked
from vapi_mcp.store.shared.lease import Leases


async def test_one_holder_at_a_time(redis_prefix: str) -> None:
    async with linked(redis_prefix, "a") as la, linked(redis_prefix, "b") as lb:
        a, b = Leases(la, ttl_ms=5000), Leases(lb, ttl_ms=5000)
        assert await a.acquire("c1")
        assert not await b.acquire("c1")
        assert await a.owner("c1") == "a" == b.owner_now("c1")
        assert await a.renew(["c1"]) == {"c1": True}
        assert await b.renew(["c1"]) == {"c1": False}, "b cannot extend a's lease"
        assert not await b.release("c1"), "nor delete it"
        assert await a.owner("c1") == "a"
        assert await a.release("c1")
        assert await a.owner("c1") is None
        assert await b.acquire("c1")


async def test_a_lease_nobody_renews_expires_and_is_taken(redis_prefix: str) -> None:
    async with linked(redis_prefix, "a") as la, linked(redis_prefix, "b") as lb:
        a, b = Leases(la, ttl_ms=200), Leases(lb, ttl_ms=200)
        assert await a.acquire("c1")
        await anyio.sleep(0.3)  # a died: nobody renewed
        assert await b.acquire("c1")
        assert await a.renew(["c1"]) == {"c1": False}, "a learns it lost the call"


async def test_renewal_takes_back_a_lease_redis_forgot(redis_prefix: str) -> None:
    async with linked(redis_prefix, "a") as link:
        leases = Leases(link, ttl_ms=5000)
        assert await leases.acquire("c1")
        await link.aio.delete(leases.key("c1"))  # Redis restarted without persistence
        assert await leases.renew(["c1"]) == {"c1": True}
        assert await leases.owner("c1") == "a"


async def test_without_redis_nobody_holds_anything() -> None:
    async with linked("vapi-mcp-test-dead:", "a", url=DEAD_URL) as link:
        assert Leases(link).owner_now("c1") is None
        assert not link.up


async def test_many_leases_renew_in_chunks_each_judged_alone(redis_prefix: str) -> None:
    async with linked(redis_prefix, "a") as la, linked(redis_prefix, "b") as lb:
        a, b = Leases(la, ttl_ms=5000), Leases(lb, ttl_ms=5000)
        ids = [f"c{i}" for i in range(2500)]  # three script calls
        assert await b.acquire("c1234")
        renewed = await a.renew(ids)
        assert list(renewed) == ids and [c for c, ok in renewed.items() if not ok] == ["c1234"]
        assert await a.owners(["c0", "c1234", "c2499"]) == {"c0": "a", "c1234": "b", "c2499": "a"}
