"""When to retry a request to Vapi, and how long to wait: bounded, and only where repeating it is safe.

============  ================================================  ==========================================
request       retried on                                        otherwise
============  ================================================  ==========================================
GET           429, 502/503/504, connect errors, timeouts,       VapiApiError / VapiTimeout / VapiUnreachable
              dropped connections
POST /call    429; errors raised before the request left        5xx → VapiApiError; read timeout etc. →
              (ConnectError, ConnectTimeout, PoolTimeout)       DeliveryUnknown (a call may exist)
control POST  same as POST /call                                non-2xx → ControlRejected; read timeout etc.
                                                                → DeliveryUnknown (never said twice)
============  ================================================  ==========================================
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx2

__all__ = ["CONTROL", "CREATE", "GET", "RetryPolicy", "next_delay", "retry_after"]

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0

# Raised before any byte of the request left this process: always safe to retry.
NOT_SENT: tuple[type[Exception], ...] = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
_CREATE_UNKNOWN_HINT = (
    "The call may or may not have been created; it was not retried, so no second call was placed. "
    "Check list_calls before creating it again."
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """What may be retried for one kind of request, and the hint to give when its outcome is unknown."""

    idempotent: bool
    retry_statuses: frozenset[int]
    retry_errors: tuple[type[Exception], ...]
    unknown_hint: str | None = None


GET = RetryPolicy(
    True,
    frozenset({429, 502, 503, 504}),
    (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError),
)
CREATE = RetryPolicy(False, frozenset({429}), NOT_SENT, _CREATE_UNKNOWN_HINT)
CONTROL = RetryPolicy(False, frozenset({429}), NOT_SENT)


def retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            if scale != 1.0:
                continue
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def next_delay(attempt: int, waited: float, asked: float | None, *, max_retries: int, max_wait: float) -> float | None:
    """How long to sleep before retry number ``attempt + 1``, or None to give up now.

    A server's ``Retry-After`` (``asked``) is honoured fully or not at all; otherwise exponential backoff with
    jitter, never sleeping more than ``max_wait`` in total for one request.
    """
    if attempt >= max_retries:
        return None
    remaining = max_wait - waited
    if asked is not None:
        return asked if asked <= remaining else None
    if remaining <= 0:
        return None
    backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1.0)
    return min(backoff, remaining)
