"""Pub/sub: one subscription per replica, fanned out by topic to synchronous callbacks.

Topics are channel names under the prefix (``events``: every appended event; ``notify``: resource changes
for MCP subscribers; ``commands``: requests for a call's owner). Pub/sub delivers at most once and nothing
while disconnected: after a reconnection the ``on_reconnect`` callbacks run, so that a reader catches up from
the streams (which keep everything) rather than trusting the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio

from vapi_mcp.store.shared.link import REDIS_ERRORS, Backoff, RedisLink

__all__ = ["Channel"]

log = logging.getLogger(__name__)


class Channel:
    """The replica's pub/sub subscription: ``on(topic, callback)`` before :meth:`run`; ``publish`` any time."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._callbacks: dict[str, list[Callable[[bytes], None]]] = {}
        self._reconnect: list[Callable[[], Awaitable[None]]] = []
        self.subscribed = anyio.Event()  # set once the first subscription is in place (tests, start-up)

    def name(self, topic: str) -> str:
        return self.link.key(topic)

    def on(self, topic: str, callback: Callable[[bytes], None]) -> None:
        self._callbacks.setdefault(self.name(topic), []).append(callback)

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._reconnect.append(callback)

    async def publish(self, topic: str, payload: str) -> bool:
        """Publish; False (logged once per outage) when Redis does not answer."""
        try:
            await self.link.aio.publish(self.name(topic), payload)  # pyright: ignore[reportUnknownMemberType]
        except REDIS_ERRORS as exc:
            self.link.failed("publishing a notification", exc)
            return False
        return True

    async def run(self) -> None:
        """Receive for ever, reconnecting with backoff (a task of the replica's task group)."""
        backoff = Backoff()
        first = True
        while True:
            pubsub: Any = self.link.aio.pubsub()  # pyright: ignore[reportUnknownMemberType]
            try:
                await pubsub.subscribe(*self._callbacks)
                self.link.succeeded()
                backoff.reset()
                if not first:
                    for callback in self._reconnect:
                        await callback()
                first = False
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._dispatch(cast("dict[str, Any]", message))
            except REDIS_ERRORS as exc:
                self.link.failed("listening to pub/sub", exc)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                    try:
                        await pubsub.aclose()
                    except REDIS_ERRORS:
                        pass
            await anyio.sleep(backoff.next())

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        data = message.get("data")
        payload = data if isinstance(data, bytes) else str(data).encode()
        for callback in self._callbacks.get(name, ()):
            try:
                callback(payload)
            except Exception:
                log.exception("pub/sub callback failed on %s", name)
