"""Streamable HTTP transport: bearer token, loopback by default, DNS-rebinding protection on.

The token check is a plain ASGI middleware in front of the SDK's app (a static shared
secret needs no OAuth metadata), compared in constant time. The SDK's transport security
then refuses a foreign ``Host`` (421) or ``Origin`` (403) with an explicit allowlist, which
we always set: the SDK silently turns the protection off for non-loopback binds otherwise.
"""

from __future__ import annotations

import hmac
import json
import logging

import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from vapi_mcp.settings import ConfigError, Settings

__all__ = ["BearerAuth", "build_http_app", "serve_http"]

log = logging.getLogger(__name__)
MCP_PATH = "/mcp"


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


def build_http_app(server: MCPServer[object], settings: Settings) -> ASGIApp:
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
    return BearerAuth(app, settings.http_token.get_secret_value())


async def serve_http(server: MCPServer[object], settings: Settings, host: str, port: int) -> None:
    app = build_http_app(server, settings)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", access_log=False)
    log.info("serving MCP over streamable HTTP at http://%s:%d%s", host, port, MCP_PATH)
    await uvicorn.Server(config).serve()
