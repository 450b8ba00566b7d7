"""Scrub secrets and monitor URLs from every log record in the process.

Monitor URLs (``listenUrl``/``controlUrl``) are bearer capabilities: whoever has one can
listen to or steer a live call. We never log them on purpose; this is the safety net for
third-party loggers (httpx2, uvicorn, websockets) that print URLs on their own. It works at
record creation, so it holds whatever handlers are added later.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

__all__ = ["install_redaction", "redact"]

REDACTED = "[redacted]"
# Any URL whose path ends in /listen, /control or /transport (Vapi's monitor endpoints, and the
# emulator's), plus query strings that may carry tokens.
_MONITOR_URL = re.compile(
    r"(?:\b(?:wss?|https?)://[^\s\"'<>]+|/[A-Za-z0-9._~%-]+(?:/[A-Za-z0-9._~%-]+)*)/(?:listen|control|transport)\b[^\s\"'<>]*",
    re.IGNORECASE,
)
_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def redact(text: str) -> str:
    text = _MONITOR_URL.sub(REDACTED, text)
    for secret in _secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def install_redaction(secrets: list[str] | tuple[str, ...] = ()) -> None:
    """Register secrets to scrub and (once per process) hook the log record factory."""
    global _installed
    with _lock:
        _secrets.update(s for s in secrets if len(s) >= 6)
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a broken format string is the logger's problem, not ours
                return record
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None and redact(str(exc)) != str(exc):
                # The traceback would print the secret: keep the type, drop the text.
                record.exc_info = None
                record.msg, record.args = f"{record.getMessage()} [{type(exc).__name__}: details withheld]", None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
