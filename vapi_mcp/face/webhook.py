"""``POST /vapi/webhook``: where Vapi's server messages come in (DESIGN §12). Only bytes move here.

The route reads the body (at most 1 MiB: 413 past it, before anything is parsed) and hands headers and body
to the supervisor's :class:`~vapi_mcp.supervisor.webhooks.WebhookIntake`, which checks the credential,
records the message and, when configured, relays it to the user's own Server URL; its answer goes back.

Two homes: on the HTTP transport beside ``/mcp`` (:func:`with_webhook_route`; Vapi cannot send the MCP bearer
token, so the route sits in front of that check and carries its own credential), and beside stdio on its own
port (``--webhook-port``, :func:`serve_webhooks`). Either way it refuses to start without a secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from vapi_mcp.face.state import AppState
from vapi_mcp.settings import Settings
from vapi_mcp.supervisor.webhooks import MAX_BODY_BYTES, WebhookReply, webhook_auth

__all__ = ["WEBHOOK_PATH", "WebhookRoute", "serve_webhooks", "webhook_server", "with_webhook_route"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/vapi/webhook"


def _error(status: int, message: str) -> WebhookReply:
    return WebhookReply(status, json.dumps({"error": message}).encode())


class WebhookRoute:
    """The ASGI endpoint itself: POST only, bounded body, one supervisor call."""

    def __init__(self, state: AppState, *, max_body: int = MAX_BODY_BYTES) -> None:
        webhook_auth(state.settings)  # no secret, or a bad HMAC setup: refuse to start, with the reason
        self.state = state
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        reply = await self._answer(scope, receive)
        headers = [
            (b"content-type", reply.content_type.encode("latin-1")),
            (b"content-length", b"%d" % len(reply.body)),
        ]
        if reply.status == 405:
            headers.append((b"allow", b"POST"))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _answer(self, scope: Scope, receive: Receive) -> WebhookReply:
        if scope["method"] != "POST":
            return _error(405, "POST only")
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            headers[raw_name.decode("latin-1").lower()] = raw_value.decode("latin-1")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return _error(413, f"body over {self.max_body} bytes")
        body = await self._read(receive)
        if body is None:
            return _error(413, f"body over {self.max_body} bytes")
        supervisor = self.state.supervisor
        if supervisor is None:
            return _error(503, "starting up")
        return await supervisor.webhooks.handle(headers, body)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _Dispatch:
    """``/vapi/webhook`` to the webhook route, everything else (lifespan included) to ``app``."""

    def __init__(self, app: ASGIApp, route: WebhookRoute) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == WEBHOOK_PATH:
            await self.route(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def with_webhook_route(app: ASGIApp, state: object) -> ASGIApp:
    """``app`` with ``POST /vapi/webhook`` in front, when ``state`` is our server's and a webhook secret is set."""
    if not isinstance(state, AppState):
        return app
    if state.settings.webhook_secret is None:
        log.info("webhook intake off: set VAPI_MCP_WEBHOOK_SECRET to receive Vapi's messages at %s", WEBHOOK_PATH)
        return app
    return _Dispatch(app, WebhookRoute(state))


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"error": "not found"}'})


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host process (stdio's) owns its signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


def webhook_server(state: AppState, settings: Settings) -> uvicorn.Server:
    """A uvicorn server for the webhook route alone (beside stdio), not yet started."""
    from vapi_mcp.face.http import HttpLimits, protocol_class

    limits = HttpLimits()
    config = uvicorn.Config(
        _Dispatch(_not_found, WebhookRoute(state)),
        host=settings.webhook_host,
        port=settings.webhook_port or 0,
        log_config=None,  # stdout is the MCP protocol: leave logging (stderr) as configured
        log_level="warning",
        lifespan="off",
        access_log=False,
        http=protocol_class(limits),
        ws="none",
        timeout_keep_alive=limits.keep_alive_s,
    )
    return _EmbeddedServer(config)


async def serve_webhooks(state: AppState, settings: Settings) -> None:
    """Serve ``POST /vapi/webhook`` on ``VAPI_MCP_WEBHOOK_HOST:VAPI_MCP_WEBHOOK_PORT`` until cancelled."""
    server = webhook_server(state, settings)
    log.info("receiving Vapi webhooks at http://%s:%s%s", settings.webhook_host, settings.webhook_port, WEBHOOK_PATH)
    await server.serve()
