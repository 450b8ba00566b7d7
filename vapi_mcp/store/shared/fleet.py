"""The fleet in Redis: one hash per call, and the index of calls.

A call's hash holds ``call`` (the latest Vapi snapshot as JSON: it includes the monitor URLs, the call's
control capabilities, so any replica can steer any call: a secret, never logged), ``summary`` (the owner's
latest audio summary, JSON), ``recorder`` (the replica whose data dir holds the recording) and ``listen``
("1" when listening is wanted). The sorted set ``calls`` indexes them by the time they joined the fleet.
This module stores text: what it means belongs to the supervisor.
"""

from __future__ import annotations

import time
from typing import Any, cast

from vapi_mcp.store.shared.link import REDIS_ERRORS, RedisLink

__all__ = ["Fleet"]


class Fleet:
    """The calls shared by every replica on one Redis."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.index = link.key("calls")

    def key(self, call_id: str) -> str:
        return self.link.key("call", call_id)

    async def put(self, call_id: str, fields: dict[str, str]) -> None:
        """Write fields of the call's hash (and index the call the first time)."""
        pipe = self.link.aio.pipeline(transaction=False)
        pipe.hset(self.key(call_id), mapping=cast("Any", fields))  # pyright: ignore[reportUnknownMemberType]
        pipe.zadd(self.index, {call_id: time.time()}, nx=True)
        await pipe.execute()

    async def put_many(self, fields: dict[str, dict[str, str]]) -> None:
        """Write fields of many (already indexed) calls' hashes in one round trip."""
        if not fields:
            return
        pipe = self.link.aio.pipeline(transaction=False)
        for call_id, values in fields.items():
            pipe.hset(self.key(call_id), mapping=cast("Any", values))  # pyright: ignore[reportUnknownMemberType]
        await pipe.execute()

    async def fields(self, call_id: str, *fields: str) -> dict[str, str]:
        """Some fields of the call's hash (those it has)."""
        values = await self.link.aio.hmget(self.key(call_id), list(fields))  # pyright: ignore[reportUnknownMemberType]
        return {f: _str(v) for f, v in zip(fields, values, strict=True) if v is not None}

    async def get(self, call_id: str) -> dict[str, str]:
        return _decode(await self.link.aio.hgetall(self.key(call_id)))

    def get_now(self, call_id: str, *fields: str) -> dict[str, str] | None:
        """Fields of the call's hash from the synchronous path; None when Redis does not answer."""
        try:
            values = self.link.sync.hmget(self.key(call_id), list(fields))
        except REDIS_ERRORS as exc:
            self.link.failed("reading a call", exc)
            return None
        return {f: _str(v) for f, v in zip(fields, values, strict=True) if v is not None}

    async def call_ids(self, limit: int = 10_000) -> list[str]:
        """The newest ``limit`` calls of the fleet."""
        ids = await self.link.aio.zrange(self.index, -limit, -1)  # pyright: ignore[reportUnknownMemberType]
        return [_str(i) for i in ids]

    async def expire(self, call_id: str, seconds: int) -> None:
        """Let an ended call's hash go after ``seconds`` (the index forgets it at the next prune)."""
        await self.link.aio.expire(self.key(call_id), seconds)

    async def prune(self, older_than_s: float) -> None:
        await self.link.aio.zremrangebyscore(self.index, "-inf", time.time() - older_than_s)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(raw: Any) -> dict[str, str]:
    return {_str(k): _str(v) for k, v in dict(raw or {}).items()}
