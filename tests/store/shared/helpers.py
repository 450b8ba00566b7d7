"""Links to the test Redis under a test's own prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.conftest import REDIS_URL
from vapi_mcp.store.shared.link import RedisLink


@asynccontextmanager
async def linked(prefix: str, replica: str, url: str = REDIS_URL) -> AsyncIterator[RedisLink]:
    link = RedisLink(url, prefix=prefix, replica=replica)
    try:
        yield link
    finally:
        await link.aclose()


DEAD_URL = "redis://127.0.0.1:1/0"
"""Nothing listens on port 1: every call fails at once, as with a Redis that is down."""
