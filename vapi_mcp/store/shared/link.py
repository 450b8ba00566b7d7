"""The connection to Redis: two clients, the key names, and the up/down state that says so in the logs.

The asyncio client carries the background work (appending events, leases, pub/sub). The sync client, with
short timeouts, serves the synchronous read paths (an event log's history, a call's snapshot): a loopback
round trip costs what reading a file does, and a Redis that does not answer costs at most its timeout, after
which the reader serves what this replica holds.

The URL may hold a password: it is never logged (messages say "Redis" and the error's class).
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, cast

import redis
import redis.asyncio
from redis.exceptions import RedisError

__all__ = ["REDIS_ERRORS", "Backoff", "RedisLink"]

log = logging.getLogger(__name__)

REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)
"""What a Redis call raises when the server is unreachable, restarting or refusing."""

SYNC_TIMEOUT_S = 0.5
ASYNC_TIMEOUT_S = 3.0


class Backoff:
    """Delays for retrying Redis: 0.2 s doubling to ``cap_s``, with jitter; reset after a success."""

    def __init__(self, *, first_s: float = 0.2, cap_s: float = 5.0) -> None:
        self.first_s = first_s
        self.cap_s = cap_s
        self._next = first_s

    def next(self) -> float:
        delay = self._next * random.uniform(0.8, 1.2)
        self._next = min(self.cap_s, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first_s


class RedisLink:
    """One replica's connection to Redis, its key prefix and its identity (``replica``)."""

    def __init__(self, url: str, *, prefix: str, replica: str) -> None:
        self.prefix = prefix
        self.replica = replica
        from_url_aio = cast("Any", redis.asyncio.Redis).from_url
        from_url_sync = cast("Any", redis.Redis).from_url
        self.aio = cast(
            "redis.asyncio.Redis",
            from_url_aio(url, socket_timeout=ASYNC_TIMEOUT_S, socket_connect_timeout=ASYNC_TIMEOUT_S),
        )
        self.sync = cast(
            "redis.Redis", from_url_sync(url, socket_timeout=SYNC_TIMEOUT_S, socket_connect_timeout=SYNC_TIMEOUT_S)
        )
        self._down_since: float | None = None
        self.outages = 0  # how many times Redis became unreachable (diagnostics, tests)

    def __repr__(self) -> str:  # never the URL: it may hold a password
        return f"RedisLink(prefix={self.prefix!r}, replica={self.replica!r})"

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # ------------------------------------------------------------------ health, said once per change
    @property
    def up(self) -> bool:
        return self._down_since is None

    @property
    def down_for_s(self) -> float:
        return 0.0 if self._down_since is None else time.monotonic() - self._down_since

    def failed(self, what: str, exc: BaseException) -> None:
        """A Redis call failed: log the first failure of an outage as a warning, the rest at debug."""
        if self._down_since is None:
            self._down_since = time.monotonic()
            self.outages += 1
            log.warning(
                "Redis unreachable while %s (%s); serving what this replica holds and retrying with backoff",
                what,
                type(exc).__name__,
            )
        else:
            log.debug("Redis still unreachable while %s (%s)", what, type(exc).__name__)

    def succeeded(self) -> float:
        """A Redis call worked; returns how long the outage that just ended lasted (0.0 if none)."""
        if self._down_since is None:
            return 0.0
        down = time.monotonic() - self._down_since
        self._down_since = None
        log.warning("Redis reachable again after %.1f s", down)
        return down

    async def aclose(self) -> None:
        await self.aio.aclose()
        self.sync.close()
