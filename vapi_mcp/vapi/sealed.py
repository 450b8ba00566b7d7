"""Log hygiene for requests to monitor URLs: httpx2 and httpcore2 must not log a capability.

httpx2 logs every request URL at INFO, and httpcore2 traces connection details at DEBUG. While a task sends
to a control URL (:func:`sealed` is active), a filter on those loggers withholds the URL and the connection
details. A logger's own filters see every record created on it, whatever handlers exist, so this holds even
for handlers added later (pytest's caplog, uvicorn's config, a user's root handler).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Generator

import httpx2

__all__ = ["install_log_filter", "sealed"]

# True while this task sends to a monitor URL; the filter below reads it.
_SEALED: contextvars.ContextVar[bool] = contextvars.ContextVar("vapi_mcp_sealed_request", default=False)
_WITHHELD = "[monitor URL withheld]"
_HTTP_LOGGERS = (
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)


class _SealedRequestFilter(logging.Filter):
    """Withhold URLs (and connection details) that httpx2/httpcore2 log while a control request runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SEALED.get():
            return True
        if record.name == "httpx2":
            if isinstance(record.args, tuple):  # no args: vapi_mcp.redact already cleaned the message
                record.args = tuple(
                    _WITHHELD if isinstance(a, httpx2.URL) or (isinstance(a, str) and "://" in a) else a
                    for a in record.args
                )
        else:  # httpcore2 traces: keep the event name, drop host/port/exception details
            head = str(record.msg).split(" ", 1)[0]
            record.msg, record.args = f"{head} [details withheld: monitor request]", None
        return True


def install_log_filter() -> None:
    """Add the filter to the HTTP stack's loggers, once (idempotent)."""
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _SealedRequestFilter) for f in logger.filters):
            logger.addFilter(_SealedRequestFilter())


@contextlib.contextmanager
def sealed() -> Generator[None]:
    """While active (in this task only), the HTTP stack's log lines carry no URL."""
    token = _SEALED.set(True)
    try:
        yield
    finally:
        _SEALED.reset(token)
