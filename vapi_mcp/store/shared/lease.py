"""Leases: exactly one replica listens to each call.

A lease is one key per call holding the owner's replica id, set with ``SET NX PX`` (only if nobody holds it,
expiring after ``ttl_ms``). The owner renews it well before it expires; a replica that dies stops renewing,
the key expires, and another replica's ``SET NX`` takes it. Renewing and releasing compare the holder first
(a Lua script each), so a replica never extends or deletes a lease another replica has taken meanwhile.
"""

from __future__ import annotations

from typing import Any

from vapi_mcp.store.shared.link import REDIS_ERRORS, RedisLink

__all__ = ["DEFAULT_TTL_MS", "Leases"]

DEFAULT_TTL_MS = 6000
"""A dead owner's lease expires within this; with a scan every ``ttl/4`` another replica takes it within ~8 s."""

# Per key, 1: still ours (renewed) or free and taken again (after a Redis restart lost it); 0: someone else's.
_RENEW = """
local renewed = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    renewed[i] = 1
  elseif not holder then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    renewed[i] = 1
  else
    renewed[i] = 0
  end
end
return renewed
"""
_RENEW_CHUNK = 1000  # leases per script call: Redis runs one script at a time, so keep each one short
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leases:
    """The listen leases of every call, as seen by one replica (``link.replica``)."""

    def __init__(self, link: RedisLink, *, ttl_ms: int = DEFAULT_TTL_MS) -> None:
        self.link = link
        self.ttl_ms = ttl_ms
        self._renew: Any = link.aio.register_script(_RENEW)  # pyright: ignore[reportUnknownMemberType]
        self._release: Any = link.aio.register_script(_RELEASE)  # pyright: ignore[reportUnknownMemberType]

    def key(self, call_id: str) -> str:
        return self.link.key("lease", call_id)

    async def acquire(self, call_id: str) -> bool:
        """Take the lease if nobody holds it."""
        return bool(await self.link.aio.set(self.key(call_id), self.link.replica, nx=True, px=self.ttl_ms))

    async def renew(self, call_ids: list[str]) -> dict[str, bool]:
        """Renew the leases this replica holds, one script call per 1,000: which are still (or again) ours."""
        renewed: dict[str, bool] = {}
        for start in range(0, len(call_ids), _RENEW_CHUNK):
            chunk = call_ids[start : start + _RENEW_CHUNK]
            keys = [self.key(call_id) for call_id in chunk]
            results = await self._renew(keys=keys, args=[self.link.replica, self.ttl_ms])
            renewed.update((call_id, bool(ok)) for call_id, ok in zip(chunk, results, strict=True))
        return renewed

    async def release(self, call_id: str) -> bool:
        """Give the lease up if it is still ours (compare-and-delete)."""
        return bool(await self._release(keys=[self.key(call_id)], args=[self.link.replica]))

    async def owner(self, call_id: str) -> str | None:
        holder = await self.link.aio.get(self.key(call_id))
        return _text(holder)

    async def owners(self, call_ids: list[str]) -> dict[str, str | None]:
        """The holders of many leases in one round trip (None: free)."""
        if not call_ids:
            return {}
        holders = await self.link.aio.mget([self.key(call_id) for call_id in call_ids])
        return {call_id: _text(holder) for call_id, holder in zip(call_ids, holders, strict=True)}

    def owner_now(self, call_id: str) -> str | None:
        """The holder, from the synchronous path; None when free or when Redis does not answer."""
        try:
            return _text(self.link.sync.get(self.key(call_id)))
        except REDIS_ERRORS as exc:
            self.link.failed("reading a lease", exc)
            return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
