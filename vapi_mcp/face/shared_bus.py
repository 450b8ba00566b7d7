"""The MCP SDK's ``SubscriptionBus`` seam over the replicas' Redis pub/sub (DESIGN §13).

With ``VAPI_MCP_REDIS_URL`` every replica publishes its resource changes on one channel and delivers what
the channel brings (its own changes included) to its local listen streams (2026-07-28 ``subscriptions/
listen``) and, through the notifier, to its legacy ``resources/subscribe`` sessions. So a client connected to
replica A hears of events ingested on replica B. The Redis plumbing lives below the face
(:class:`~vapi_mcp.supervisor.replicas.NotificationRelay`); this module only speaks the SDK's event types.

When Redis does not answer, a publish is delivered locally instead: this replica's clients still hear of
this replica's changes. A message carries one change per line: the notifier sends everything one flush
shares in one message (one Redis round trip, however many calls changed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import anyio.lowlevel
from mcp.server.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    ToolsListChanged,
)

__all__ = ["Relay", "SharedSubscriptionBus", "decode_event", "encode_event"]

log = logging.getLogger(__name__)

_KINDS: dict[str, ServerEvent] = {"l": ResourcesListChanged(), "t": ToolsListChanged(), "p": PromptsListChanged()}


class Relay(Protocol):
    """Text to every replica and back (the supervisor's ``NotificationRelay``)."""

    async def publish(self, payload: str) -> bool: ...

    def on_message(self, receiver: Callable[[bytes], None]) -> None: ...


def encode_event(event: ServerEvent) -> str:
    if isinstance(event, ResourceUpdated):
        return "u " + event.uri
    return next(code for code, kind in _KINDS.items() if kind == event)


def decode_event(payload: bytes) -> ServerEvent | None:
    text = payload.decode(errors="replace")
    if text.startswith("u "):
        return ResourceUpdated(uri=text[2:])
    return _KINDS.get(text)


class SharedSubscriptionBus:
    """A ``SubscriptionBus`` whose publishes reach the listeners of every replica."""

    def __init__(self) -> None:
        self._listeners: dict[object, Callable[[ServerEvent], None]] = {}
        self._relay: Relay | None = None
        self.delivered = 0  # events delivered to this replica's listeners (diagnostics, tests)

    def attach(self, relay: Relay) -> None:
        """Start publishing through ``relay`` (the lifespan does it once the supervisor runs)."""
        relay.on_message(self._received)
        self._relay = relay

    def detach(self) -> None:
        self._relay = None

    async def publish(self, event: ServerEvent) -> None:
        await self.publish_many([event])

    async def publish_many(self, events: list[ServerEvent]) -> None:
        """Publish ``events`` to every replica in one message (delivered here alone if Redis is down)."""
        if not events:
            return
        relay = self._relay
        if relay is None or not await relay.publish("\n".join(map(encode_event, events))):
            self.deliver_here(events)
        await anyio.lowlevel.checkpoint()

    def deliver_here(self, events: list[ServerEvent]) -> None:
        """Deliver to this replica's listeners only (a change every replica sees for itself)."""
        for event in events:
            self._deliver(event)

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        token = object()
        self._listeners[token] = listener

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe

    def _received(self, payload: bytes) -> None:
        if self._relay is None:
            return
        for line in payload.split(b"\n"):
            event = decode_event(line)
            if event is not None:
                self._deliver(event)

    def _deliver(self, event: ServerEvent) -> None:
        self.delivered += 1
        for listener in list(self._listeners.values()):
            try:
                listener(event)
            except Exception:  # fan-out boundary, as in the SDK's InMemorySubscriptionBus
                log.exception("subscription listener raised; continuing")
