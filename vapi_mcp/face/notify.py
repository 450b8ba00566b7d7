"""Resource-change notifications for both MCP protocol eras, coalesced.

* 2026-07-28 clients watch with ``subscriptions/listen``; the SDK serves it over a
  ``SubscriptionBus`` we own, so background tasks can publish outside any request.
* 2025-11-25 (handshake-era) clients use ``resources/subscribe``. ``MCPServer`` has no
  public API for it yet, so we register the handlers on its low-level server (the SDK
  migration guide's documented workaround), remember each subscriber's session, and
  forget it when its connection closes.

Listen sessions change a call's resources many times a second; subscribers get at most
one ``resources/updated`` per URI per ``interval_s`` (a cue to re-read, never a replay).

Replicas (DESIGN §13): with a :class:`~vapi_mcp.face.shared_bus.SharedSubscriptionBus` both eras go through
the bus: what any replica publishes comes back to every replica, which sends it to its own legacy sessions
(coalesced again) as well as to its listen streams. A change every replica sees for itself (an event taken
into a call's log or the inbox: each replica takes every event) is delivered here only; the rest (an owner's
audio summary, a webhook's transcript, the list of calls) crosses Redis, all of one flush in one message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server import MCPServer, NotificationOptions, ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
)
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from vapi_mcp.face.shared_bus import SharedSubscriptionBus
from vapi_mcp.supervisor import Aspect
from vapi_mcp.supervisor.views import resource_uris

__all__ = ["INBOX_URI", "Notifier", "ResourceObserver", "connection_key", "when_closed"]

INBOX_URI = "vapi://inbox"

log = logging.getLogger(__name__)


def connection_key(ctx: ServerRequestContext[Any, Any]) -> str:
    """Mcp-Session-Id on streamable HTTP; otherwise the connection object itself (stdio, memory)."""
    headers = getattr(ctx.request, "headers", None)
    session_id = headers.get("mcp-session-id") if headers else None
    return session_id or f"conn-{id(ctx.session._connection)}"  # pyright: ignore[reportPrivateUsage]  # the only per-connection identity


MAX_SUBSCRIPTIONS = 1000
"""Legacy subscriptions one connection may hold (a client watching a big fleet stays far below it)."""

MAX_URI_LENGTH = 512
"""A subscribed URI is kept until unsubscribed: longer ones are refused (ours are under 100 characters)."""


def when_closed(session: ServerSession, callback: Callable[[], None]) -> None:
    """Call ``callback`` when ``session``'s connection closes.

    Connection.notify swallows dead streams, so the connection's exit stack is the only reliable
    "client left" hook (private in mcp 2.3; see reference/mcp-ecosystem.md §2.5).
    """
    session._connection.exit_stack.callback(callback)  # pyright: ignore[reportPrivateUsage]


class Notifier:
    """Publishes resource changes to every subscriber of either era, at most ~4 per second per URI."""

    def __init__(self, *, interval_s: float = 0.25, bus: SharedSubscriptionBus | None = None) -> None:
        self.bus: InMemorySubscriptionBus | SharedSubscriptionBus = bus or InMemorySubscriptionBus()
        self.shared = bus is not None
        self.interval_s = interval_s
        self._legacy_sessions: dict[str, ServerSession] = {}
        self._legacy_subs: dict[str, set[str]] = {}
        self._pending: set[str] = set()  # changes for every replica (through the shared bus)
        self._pending_here: set[str] = set()  # changes each replica sees for itself (delivered here only)
        self._list_changed = False
        self._wakeup = anyio.Event()
        self.published = 0  # resources/updated sent (both eras), for tests and diagnostics
        # Shared bus: what the channel brings for legacy sessions, sent by _send_heard.
        self._heard_uris: set[str] = set()
        self._heard_list = False
        self._heard_wakeup = anyio.Event()
        if bus is not None:
            bus.subscribe(self._heard)

    # ------------------------------------------------------------------ producer side (sync, cheap)
    def resource_changed(self, uri: str, *, here: bool = False) -> None:
        """``uri`` changed; ``here``: every replica sees this change for itself (nothing to share)."""
        (self._pending_here if here and self.shared else self._pending).add(uri)
        self._wakeup.set()

    def list_changed(self) -> None:
        self._list_changed = True
        self._wakeup.set()

    # ------------------------------------------------------------------ the flusher (a lifespan task)
    @asynccontextmanager
    async def running(self) -> AsyncGenerator[None]:
        """Run the flusher for as long as the context is open."""
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self.run)
            if self.shared:
                tasks.start_soon(self._send_heard)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup = anyio.Event()
            await self.flush()
            await anyio.sleep(self.interval_s)  # the coalescing window

    async def flush(self) -> None:
        uris, self._pending = self._pending, set()
        here, self._pending_here = self._pending_here, set()
        list_changed, self._list_changed = self._list_changed, False
        if isinstance(self.bus, SharedSubscriptionBus):
            shared: list[ServerEvent] = [ResourcesListChanged()] if list_changed else []
            shared += [ResourceUpdated(uri=uri) for uri in sorted(uris)]
            self.published += len(uris) + len(here - uris)
            await self.bus.publish_many(shared)  # one message to every replica
            self.bus.deliver_here([ResourceUpdated(uri=uri) for uri in sorted(here - uris)])
            return
        if list_changed:
            await self.bus.publish(ResourcesListChanged())
            await self._legacy_list_changed()
        for uri in sorted(uris):
            self.published += 1
            await self.bus.publish(ResourceUpdated(uri=uri))
            await self._legacy_updated(uri)

    async def _legacy_list_changed(self) -> None:
        for key in list(self._legacy_sessions):
            await self._send_legacy(key, lambda s: s.send_resource_list_changed())

    async def _legacy_updated(self, uri: str) -> None:
        for key in list(self._legacy_subs.get(uri, ())):
            await self._send_legacy(key, lambda s, u=uri: s.send_resource_updated(u))

    def _heard(self, event: ServerEvent) -> None:
        """A change from the shared bus (any replica's): queue it for this replica's legacy sessions."""
        if isinstance(event, ResourceUpdated):
            if event.uri not in self._legacy_subs:
                return
            self._heard_uris.add(event.uri)
        elif isinstance(event, ResourcesListChanged):
            self._heard_list = True
        else:
            return
        self._heard_wakeup.set()

    async def _send_heard(self) -> None:
        while True:
            await self._heard_wakeup.wait()
            self._heard_wakeup = anyio.Event()
            uris, self._heard_uris = self._heard_uris, set()
            list_changed, self._heard_list = self._heard_list, False
            if list_changed:
                await self._legacy_list_changed()
            for uri in sorted(uris):
                await self._legacy_updated(uri)
            await anyio.sleep(self.interval_s)  # replicas publish the same change: coalesce again

    async def _send_legacy(self, key: str, send: Callable[[ServerSession], Awaitable[None]]) -> None:
        session = self._legacy_sessions.get(key)
        if session is None:
            return
        try:
            await send(session)
        except Exception:  # a dead client must never break the flusher
            log.debug("dropping notification to a closed legacy session", exc_info=True)
            self._forget(key)

    # ------------------------------------------------------------------ legacy-era plumbing
    def _remember(self, key: str, session: ServerSession) -> None:
        if key in self._legacy_sessions:
            return
        self._legacy_sessions[key] = session
        when_closed(session, functools.partial(self._forget, key))

    def _forget(self, key: str) -> None:
        self._legacy_sessions.pop(key, None)
        for uri in list(self._legacy_subs):
            self._drop(uri, key)

    def _drop(self, uri: str, key: str) -> None:
        keys = self._legacy_subs.get(uri)
        if keys is not None:
            keys.discard(key)
            if not keys:  # never keep a URI nobody watches: memory stays bounded by live subscriptions
                del self._legacy_subs[uri]

    @property
    def subscription_count(self) -> int:
        """Live legacy subscriptions, all URIs and connections together (diagnostics, tests)."""
        return sum(len(keys) for keys in self._legacy_subs.values())

    def subscriber_count(self, uri: str) -> int:
        return len(self._legacy_subs.get(uri, ()))

    async def _subscribe(self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
        uri = str(params.uri)
        if len(uri) > MAX_URI_LENGTH:
            # Unknown but short URIs are accepted (a client may subscribe before a call exists): they cost
            # little, are capped per connection, and are dropped with the connection.
            raise MCPError(code=INVALID_PARAMS, message=f"resource URI too long (over {MAX_URI_LENGTH} characters)")
        key = connection_key(ctx)
        if key not in self._legacy_subs.get(uri, ()) and self._count_for(key) >= MAX_SUBSCRIPTIONS:
            raise MCPError(code=INVALID_PARAMS, message=f"too many subscriptions (at most {MAX_SUBSCRIPTIONS})")
        self._remember(key, ctx.session)
        self._legacy_subs.setdefault(uri, set()).add(key)
        return EmptyResult()

    def _count_for(self, key: str) -> int:
        return sum(key in keys for keys in self._legacy_subs.values())

    async def _unsubscribe(self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams) -> EmptyResult:
        self._drop(str(params.uri), connection_key(ctx))
        return EmptyResult()

    async def _remember_legacy(self, ctx: ServerRequestContext[Any, Any], call_next: Any) -> Any:
        """Middleware: every handshake-era connection hears ``list_changed``."""
        if (
            ctx.request_id is not None
            and ctx.method != "initialize"
            and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS
        ):
            self._remember(connection_key(ctx), ctx.session)
        return await call_next(ctx)

    def install(self, server: MCPServer[Any]) -> None:
        """Serve legacy subscriptions on ``server`` and advertise ``listChanged`` in the handshake."""
        low = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]  # the SDK guide's documented workaround
        low.add_request_handler("resources/subscribe", SubscribeRequestParams, self._subscribe)
        low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe)
        server.middleware.append(self._remember_legacy)
        original = low.create_initialization_options

        def with_list_changed(
            notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
        ) -> Any:
            opts = notification_options or NotificationOptions(resources_changed=True)
            return original(opts, *args, **kwargs)

        low.create_initialization_options = with_list_changed  # type: ignore[method-assign]


class ResourceObserver:
    """The supervisor's observer: each change notice becomes the URIs of the resources it changed."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def call_changed(self, call_id: str, aspects: tuple[Aspect, ...], *, from_log: bool = False) -> None:
        uris = resource_uris(call_id)
        by_aspect = {
            "call": uris.call,
            "events": uris.events,
            "audio-summary": uris.audio_summary,
            "transcript": uris.transcript,
            "recording": uris.recording,
            "report": f"{uris.call}/report",
        }
        for aspect in aspects:
            self.notifier.resource_changed(by_aspect[aspect], here=from_log)
        if "call" in aspects:
            self.notifier.resource_changed("vapi://calls", here=from_log)

    def calls_changed(self) -> None:
        self.notifier.resource_changed("vapi://calls")
        self.notifier.list_changed()

    def inbox_changed(self) -> None:
        self.notifier.resource_changed(INBOX_URI, here=True)  # every replica takes the inbox's events
