"""Who may post server messages: the webhook credential check, pure and tested without sockets (DESIGN §12).

Vapi authenticates the messages it posts to a Server URL with the credential the Server names
(reference/vapi-api.md §4.3). Two kinds are accepted here:

- a shared secret: the legacy ``X-Vapi-Secret: <secret>`` header, or a bearer credential
  (``Authorization: Bearer <secret>``);
- Vapi's HMAC credential with its defaults: hex HMAC-SHA256 of ``{timestamp}.{body}`` in ``x-signature``,
  the timestamp in ``x-timestamp`` (both header names configurable; an empty timestamp header means a
  credential that signs the body alone, ``includeTimestamp: false``). A ``sha256=`` prefix (the
  credential's ``signaturePrefix``) is tolerated. The timestamp must be within :data:`REPLAY_WINDOW_S` of
  now; Vapi does not document its unit, so seconds and milliseconds are both read.

Every comparison is constant-time, and a refusal never says which part was wrong beyond what the sender
already knows, nor quotes a header value.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from vapi_mcp.errors import WebhookRefused

__all__ = ["REPLAY_WINDOW_S", "WebhookAuth", "WebhookRefused", "hmac_signature"]

REPLAY_WINDOW_S = 300.0
"""How far a signed timestamp may be from now, either way (5 minutes)."""

_MS_THRESHOLD = 1e11  # seconds since 1970 pass this in the year 5138; milliseconds passed it in 1973


def hmac_signature(secret: str, body: bytes, timestamp: str | None) -> str:
    """Hex HMAC-SHA256 of ``{timestamp}.{body}`` (or of the body alone when ``timestamp`` is None)."""
    payload = body if timestamp is None else timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def _timestamp_seconds(value: str) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return number / 1000 if abs(number) >= _MS_THRESHOLD else number


@dataclass(frozen=True, slots=True)
class WebhookAuth:
    """The credential webhook requests must carry. Header names are matched in lower case."""

    secret: SecretStr = field(repr=False)
    hmac: bool = False
    signature_header: str = "x-signature"
    timestamp_header: str = "x-timestamp"
    window_s: float = REPLAY_WINDOW_S

    def __post_init__(self) -> None:
        if not self.secret.get_secret_value():
            raise ValueError("a webhook secret is required")
        if self.hmac and not self.signature_header:
            raise ValueError("the HMAC signature header name must not be empty")

    def check(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Raise :class:`WebhookRefused` (401) unless the request carries the credential.

        ``headers`` has lower-case names (as ASGI gives them); ``now`` is Unix time in seconds.
        """
        if self.hmac:
            self._check_hmac(headers, body, now)
        else:
            self._check_secret(headers)

    def _check_secret(self, headers: Mapping[str, str]) -> None:
        secret = self.secret.get_secret_value().encode()
        given = headers.get("x-vapi-secret", "").encode()
        bearer = headers.get("authorization", "").encode()
        # Both compared every time, so the answer takes as long whichever header is present.
        by_header = hmac.compare_digest(given, secret)
        by_bearer = hmac.compare_digest(bearer, b"Bearer " + secret)
        if not (by_header | by_bearer):
            raise WebhookRefused(401, "missing or wrong webhook secret (X-Vapi-Secret or Authorization: Bearer)")

    def _check_hmac(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        signature = headers.get(self.signature_header.lower(), "").strip()
        if not signature:
            raise WebhookRefused(401, f"missing webhook signature header {self.signature_header!r}")
        timestamp: str | None = None
        if self.timestamp_header:
            timestamp = headers.get(self.timestamp_header.lower(), "").strip()
            seconds = _timestamp_seconds(timestamp) if timestamp else None
            if seconds is None:
                raise WebhookRefused(401, f"missing or malformed webhook timestamp header {self.timestamp_header!r}")
            if abs(now - seconds) > self.window_s:
                raise WebhookRefused(401, "webhook timestamp outside the replay window")
        expected = hmac_signature(self.secret.get_secret_value(), body, timestamp)
        given = signature.removeprefix("sha256=").lower()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise WebhookRefused(401, "bad webhook signature")
