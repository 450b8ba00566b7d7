"""The call panel as a dashboard on the HTTP transport: ``GET /dashboard``, behind the server's token.

A browser cannot put a bearer token on a page load, so the first visit carries it once as
``/dashboard?token=…``; the answer is a redirect to ``/dashboard`` that sets an HttpOnly,
SameSite=Strict cookie (an HMAC of the token, not the token) scoped to ``/dashboard``. The page
then talks MCP to ``/dashboard/mcp``, which is ``/mcp`` with the bearer token added here: the
page's JS never holds the token, and the token leaves the address bar at once. An
``Authorization: Bearer`` header works on both paths too. Everything else passes through.

The page is the MCP App's own HTML (:func:`vapi_mcp.face.panel.panel_html`): outside an iframe
it finds no host and reads the same resources and calls the same tools over HTTP instead.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["DASHBOARD_PATH", "Dashboard"]

DASHBOARD_PATH = "/dashboard"
MCP_PROXY_PATH = "/dashboard/mcp"
COOKIE = "vapi_mcp_dashboard"
# The page's own script and style are inline; it may only talk to this origin, and never be framed.
PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
]


class Dashboard:
    """ASGI middleware in front of the MCP app (itself behind :class:`~vapi_mcp.face.http.BearerAuth`)."""

    def __init__(self, app: ASGIApp, token: str, html: str) -> None:
        self.app = app
        self._bearer = f"Bearer {token}".encode()
        self._token = token.encode()
        self._cookie = hmac.new(self._token, b"vapi-mcp dashboard", hashlib.sha256).hexdigest().encode()
        self._html = html.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == DASHBOARD_PATH or path.startswith(DASHBOARD_PATH + "/")):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if path == DASHBOARD_PATH and scope["method"] in ("GET", "HEAD") and self._query_token_ok(scope):
            # The token leaves the address bar (and the history) at once; the cookie carries on.
            await _respond(send, 303, b"", [(b"location", DASHBOARD_PATH.encode()), self._set_cookie()])
            return
        if not self._authorized(headers):
            body = b"unauthorized: open /dashboard?token=<VAPI_MCP_HTTP_TOKEN>\n"
            await _respond(send, 401, body, [(b"content-type", b"text/plain; charset=utf-8")])
            return
        if path == MCP_PROXY_PATH:
            inner = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
            inner.append((b"authorization", self._bearer))
            await self.app({**scope, "path": "/mcp", "raw_path": b"/mcp", "headers": inner}, receive, send)
            return
        if path != DASHBOARD_PATH:
            await _respond(send, 404, b"not found\n", [(b"content-type", b"text/plain; charset=utf-8")])
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        body = self._html if scope["method"] == "GET" else b""
        await _respond(send, 200, body, [(b"content-type", b"text/html; charset=utf-8"), *PAGE_HEADERS])

    def _query_token_ok(self, scope: Scope) -> bool:
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self._token)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        if hmac.compare_digest(headers.get(b"authorization", b""), self._bearer):
            return True
        cookies = (part.partition("=") for part in headers.get(b"cookie", b"").decode("latin-1").split(";"))
        return any(
            hmac.compare_digest(value.strip().encode("latin-1"), self._cookie)
            for name, _, value in cookies
            if name.strip() == COOKIE
        )

    def _set_cookie(self) -> tuple[bytes, bytes]:
        return (b"set-cookie", COOKIE.encode() + b"=" + self._cookie + b"; Path=/dashboard; HttpOnly; SameSite=Strict")


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
