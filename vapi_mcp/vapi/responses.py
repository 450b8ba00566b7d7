"""Reading Vapi's answers safely: error bodies, transport failures and Call objects, without leaking secrets.

No message made here contains a key or a monitor URL: error text is cleaned of both, httpx2 exceptions (whose
text and ``.request`` carry the URL) are mapped by type and never stringified, and a Call that fails to parse
is reported by field names only (pydantic would quote the input, and the input holds the monitor URLs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, cast

import httpx2
from pydantic import ValidationError

from vapi_mcp import errors
from vapi_mcp.vapi.models import Call
from vapi_mcp.vapi.retry import RetryPolicy

__all__ = ["call_from", "clean", "error_body", "json_body", "transport_error"]

MAX_TEXT = 300  # non-JSON error bodies (HTML error pages, proxies)
MAX_MESSAGE = 1000  # Vapi's own JSON messages (validation lists can be long)
_MONITOR_URL = re.compile(r"\b(?:wss?|https?)://\S+/(?:listen|control|transport)\b\S*", re.IGNORECASE)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")
_HTML_TAG = re.compile(r"<[^>]{0,500}>")


def clean(text: str, secrets: Iterable[str], limit: int) -> str:
    """One short, printable line with no secret and no monitor URL in it."""
    for secret in secrets:
        if secret:  # whatever its length: a short key is still a key (settings refuse short ones anyway)
            text = text.replace(secret, "[redacted]")
    text = _MONITOR_URL.sub("[redacted]", text)
    text = " ".join(_CONTROL_CHARS.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parsed_json(response: httpx2.Response) -> object:
    try:
        return cast(object, response.json())
    except ValueError:
        return None


def error_body(response: httpx2.Response, secrets: Iterable[str]) -> tuple[str, str | None]:
    """Vapi's ``{"message": str | [str], "error": str, "statusCode": n}``, or a sanitised excerpt of the text."""
    secrets = tuple(secrets)
    body = _parsed_json(response)
    if isinstance(body, dict) and ("message" in body or "error" in body):
        fields = cast(dict[str, object], body)
        raw = fields.get("message")
        if isinstance(raw, list):
            text = "; ".join(str(m) for m in cast(list[object], raw))
        else:
            text = "" if raw is None else str(raw)
        message = clean(text, secrets, MAX_MESSAGE)
        reason = fields.get("error")
        error = (clean(reason, secrets, 100) or None) if isinstance(reason, str) else None
    else:
        message, error = clean(_HTML_TAG.sub(" ", response.text), secrets, MAX_TEXT), None
    return message or response.reason_phrase or f"HTTP {response.status_code}", error


def transport_error(exc: httpx2.RequestError, policy: RetryPolicy, label: str) -> errors.VapiError:
    """Map an httpx2 failure by its type alone: its text and ``.request`` may hold the URL."""
    kind = type(exc).__name__
    if isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout):
        return errors.VapiTimeout(f"{label}: no connection to Vapi in time ({kind}); nothing was sent")
    if isinstance(exc, httpx2.ConnectError | httpx2.UnsupportedProtocol | httpx2.ProxyError):
        return errors.VapiUnreachable(f"{label}: could not connect to Vapi ({kind}); nothing was sent")
    if policy.idempotent:
        if isinstance(exc, httpx2.TimeoutException):
            return errors.VapiTimeout(f"{label}: Vapi did not answer in time ({kind})")
        return errors.VapiUnreachable(f"{label}: the exchange with Vapi failed ({kind})")
    return errors.DeliveryUnknown(
        f"{label}: sent, but no answer came back ({kind}); it may or may not have been applied",
        hint=policy.unknown_hint,
    )


def call_from(data: Any, label: str) -> Call:
    """A :class:`Call` from parsed JSON, or a VapiError naming the unreadable fields (never their values)."""
    try:
        return Call.model_validate(data)
    except ValidationError as exc:
        # Never str(exc): pydantic quotes the input, and the input holds the monitor URLs.
        where = sorted({".".join(map(str, e["loc"])) or "<root>" for e in exc.errors(include_input=False)})
        raise errors.VapiError(
            f"{label}: Vapi sent a call this client cannot read (fields: {', '.join(where)})"
        ) from None


def json_body(response: httpx2.Response, label: str) -> object:
    """The response's JSON, or a VapiError saying it was not JSON."""
    try:
        return cast(object, response.json())
    except ValueError:
        raise errors.VapiError(f"{label}: Vapi answered {response.status_code} with a body that is not JSON") from None
