"""Streamable HTTP transport: bearer token, loopback by default, DNS-rebinding protection on.

The token check is a plain ASGI middleware in front of the SDK's app (a static shared
secret needs no OAuth metadata), compared in constant time. The SDK's transport security
then refuses a foreign ``Host`` (421) or ``Origin`` (403) with an explicit allowlist, which
we always set: the SDK silently turns the protection off for non-loopback binds otherwise.

Connections are bounded before anyone is authenticated (:class:`HttpLimits`). uvicorn closes
a keep-alive connection that stays silent after a response, but has no timeout for a request
head that never completes: a connection that sends nothing, or trickles header bytes, or
trickles a body the server already answered (a 401 does not read it), stays open for ever. Our
h11 protocol subclass gives every request head a deadline and caps the open connections.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from vapi_mcp.face.dashboard import Dashboard
from vapi_mcp.face.panel import panel_html
from vapi_mcp.face.webhook import with_webhook_route
from vapi_mcp.settings import ConfigError, Settings

__all__ = ["BearerAuth", "HttpLimits", "build_http_app", "build_http_server", "protocol_class", "serve_http"]

log = logging.getLogger(__name__)
MCP_PATH = "/mcp"

HEADER_TIMEOUT_S = 10.0
"""A request head (request line and headers) must be complete this long after it could start."""
KEEP_ALIVE_S = 5
"""An idle keep-alive connection is closed after this many seconds without a byte (uvicorn's)."""
MAX_CONNECTIONS = 100
"""Connections served at once; as many again are answered 503, any beyond those are dropped."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How long a client may take to send a request head, and how many connections are served.

    The deadline for a head starts when the connection opens, or at the first byte after a
    response; a silent new connection is therefore closed after ``header_timeout_s`` too.
    Up to ``max_connections`` connections are served. The next ``max_connections`` ones are
    read up to their request head (under the same deadline) and answered ``503`` with
    ``Connection: close``; any beyond those are closed at once, so the server never holds more
    than twice ``max_connections`` sockets for clients, however fast they connect.
    """

    header_timeout_s: float = HEADER_TIMEOUT_S
    keep_alive_s: int = KEEP_ALIVE_S
    max_connections: int = MAX_CONNECTIONS

    def __post_init__(self) -> None:
        if self.header_timeout_s <= 0 or self.keep_alive_s < 1 or self.max_connections < 1:
            raise ValueError(f"HTTP limits must be positive: {self}")


class _GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and a connection cap.

    Subclassed per server by :func:`protocol_class` to carry its :class:`HttpLimits`, since
    uvicorn builds protocols itself from a class.
    """

    limits: ClassVar[HttpLimits] = HttpLimits()
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        others = len(self.connections)
        super().connection_made(transport)
        if others >= 2 * self.limits.max_connections:
            log.debug("HTTP connection dropped: %d connections already open", others)
            transport.abort()
            return
        if others >= self.limits.max_connections:
            # uvicorn answers 503 (Connection: close) to a request arriving beyond its limit;
            # a limit of 0 puts this connection beyond it for good.
            self.limit_concurrency = 0
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self._between_requests():
            self._arm_head_timer()  # the first byte of the next request
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _current_cycle(self) -> RequestResponseCycle | None:
        # uvicorn declares ``cycle`` non-optional, but it is None until the first request head.
        return cast("RequestResponseCycle | None", self.cycle)

    def _between_requests(self) -> bool:
        cycle = self._current_cycle()
        return cycle is None or cycle.response_complete

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(
            self.limits.header_timeout_s, self._head_timed_out, self._current_cycle()
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _disarm_head_timer_if_head_arrived(self) -> None:
        if self._head_timer is not None and not self._between_requests():
            self._cancel_head_timer()

    def _head_timed_out(self, cycle_when_armed: RequestResponseCycle | None) -> None:
        self._head_timer = None
        if self._current_cycle() is not cycle_when_armed:
            return  # a request head arrived in time (and its cycle may even have finished)
        if not self.transport.is_closing():
            log.debug("HTTP connection closed: no complete request head within %.1f s", self.limits.header_timeout_s)
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()  # also runs for pipelined heads, once the previous response is complete
        self._disarm_head_timer_if_head_arrived()


def protocol_class(limits: HttpLimits) -> type[_GuardedH11Protocol]:
    class GuardedH11Protocol(_GuardedH11Protocol):
        pass

    GuardedH11Protocol.limits = limits
    return GuardedH11Protocol


class BearerAuth:
    """Reject every HTTP request that lacks ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan events pass through
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "unauthorized", "error_description": "missing or wrong bearer token"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="vapi-mcp"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def build_http_app(server: MCPServer[Any], settings: Settings) -> ASGIApp:
    if settings.http_token is None:
        raise ConfigError(
            "the HTTP transport needs VAPI_MCP_HTTP_TOKEN (clients send it as 'Authorization: Bearer <token>')"
        )
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(settings.allowed_hosts),
        allowed_origins=list(settings.allowed_origins),
    )
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security)
    token = settings.http_token.get_secret_value()
    page = panel_html(read_only=settings.read_only)
    app = Dashboard(BearerAuth(app, token), token, page)  # GET /dashboard: the call panel
    # Vapi cannot send the MCP token: the webhook route (when configured) sits in front, with its own credential.
    return with_webhook_route(app, getattr(server, "state", None))


def build_http_server(
    server: MCPServer[Any], settings: Settings, host: str, port: int, limits: HttpLimits | None = None
) -> uvicorn.Server:
    """A uvicorn server for ``server`` on ``host:port`` (``port`` 0 picks a free one), not yet started."""
    limits = limits or HttpLimits()
    config = uvicorn.Config(
        build_http_app(server, settings),
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        http=protocol_class(limits),
        ws="none",  # nothing here speaks WebSocket; an upgrade request is served as plain HTTP
        timeout_keep_alive=limits.keep_alive_s,
    )
    return uvicorn.Server(config)


async def serve_http(
    server: MCPServer[Any], settings: Settings, host: str, port: int, limits: HttpLimits | None = None
) -> None:
    log.info("serving MCP over streamable HTTP at http://%s:%d%s", host, port, MCP_PATH)
    await build_http_server(server, settings, host, port, limits).serve()
