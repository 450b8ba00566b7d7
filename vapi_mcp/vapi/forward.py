"""Relay a server message to the user's own Server URL and bring its answer back (DESIGN §12).

With ``VAPI_MCP_WEBHOOK_FORWARD_URL`` the supervisor sits in front of an existing Server URL: every message
goes on with the headers that matter (its credential, so the user's server checks it as before; its content
type; Vapi's own ``x-*`` headers) and the user's answer (status, body, content type) goes back to Vapi as is.
The wait is bounded (Vapi's own ``timeoutSeconds`` default, 20 s); a server that cannot be reached, times out
or answers too much gets Vapi what a dead server would: a 502 or 504, and a log line without the URL's
secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpx2

from vapi_mcp.redact import redact

__all__ = ["MAX_ANSWER_BYTES", "Forwarded", "Forwarder"]

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""The largest answer relayed back (a transient assistant with a long prompt fits)."""

_HOP_BY_HOP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "accept-encoding",
        "expect",
    }
)


@dataclass(frozen=True, slots=True)
class Forwarded:
    status: int
    body: bytes
    content_type: str


class Forwarder:
    """One pooled HTTP client towards the user's Server URL."""

    def __init__(
        self, url: str, *, timeout_s: float = 20.0, transport: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        self._url = url
        self._http = httpx2.AsyncClient(
            transport=transport,
            timeout=httpx2.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return "Forwarder(url=[set])"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def relay(self, headers: Mapping[str, str], body: bytes) -> Forwarded:
        """POST ``body`` with the relevant ``headers``; the answer, or 502/504 when there is none."""
        sent = {name: value for name, value in headers.items() if name.lower() not in _HOP_BY_HOP}
        try:
            async with self._http.stream("POST", self._url, content=body, headers=sent) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        log.warning("webhook forward: the Server URL answered over %d bytes; 502", MAX_ANSWER_BYTES)
                        return Forwarded(502, b'{"error": "forward answer too large"}', "application/json")
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "application/json")
                return Forwarded(response.status_code, b"".join(chunks), content_type)
        except httpx2.TimeoutException:
            log.warning("webhook forward: the Server URL did not answer in time; 504")
            return Forwarded(504, b'{"error": "forward timed out"}', "application/json")
        except httpx2.HTTPError as exc:  # never str(exc): it carries the URL
            log.warning("webhook forward failed (%s); 502", redact(type(exc).__name__))
            return Forwarded(502, b'{"error": "forward failed"}', "application/json")
