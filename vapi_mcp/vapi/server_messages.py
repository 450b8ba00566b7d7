"""Vapi's server messages as they arrive at a Server URL: the envelope read tolerantly, pure (DESIGN §12).

Every message is ``POST {"message": {"type": …, "call": {…}, "timestamp": <ms>, …}}`` (reference/vapi-api.md
§4.1). Only the envelope is checked here: a JSON object holding a ``message`` object with a string ``type``.
Everything else is Vapi's business and passes as it came (Vapi adds types and fields often); the call object,
when present, is read as a :class:`~vapi_mcp.vapi.models.Call` (its monitor URLs sealed).

Some messages expect an answer from the user's own server (:data:`REQUEST_TYPES`); the others are notices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError

from vapi_mcp.errors import WebhookRefused
from vapi_mcp.ids import is_valid_id
from vapi_mcp.vapi.models import Call

__all__ = ["MAX_BODY_BYTES", "REQUEST_TYPES", "ServerMessage", "parse_server_message"]

MAX_BODY_BYTES = 1024 * 1024
"""Largest webhook body read (1 MiB); an end-of-call report with a long transcript fits many times over."""

REQUEST_TYPES = frozenset(
    {
        "assistant-request",
        "tool-calls",
        "function-call",
        "transfer-destination-request",
        "handoff-destination-request",
        "knowledge-base-request",
        "voice-request",
        "call.endpointing.request",
        "campaign.predial",
    }
)
"""Messages whose answer steers the call: they belong to the user's server (forwarded, or ``200 {}``)."""

_MAX_TYPE_CHARS = 100


@dataclass(frozen=True, slots=True)
class ServerMessage:
    """One server message. ``body`` is the whole ``message`` object, unscrubbed: scrub before storing it."""

    type: str
    body: dict[str, Any] = field(repr=False)
    call: Call | None = None
    timestamp_ms: float | None = None

    @property
    def call_id(self) -> str | None:
        return self.call.id if self.call is not None else None

    @property
    def expects_answer(self) -> bool:
        return self.type in REQUEST_TYPES


def parse_server_message(body: bytes) -> ServerMessage:
    """The message in a webhook body, or :class:`WebhookRefused` 400 (413 over :data:`MAX_BODY_BYTES`)."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRefused(413, f"webhook body over {MAX_BODY_BYTES} bytes")
    try:
        parsed: object = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRefused(400, "webhook body is not JSON") from None
    if not isinstance(parsed, dict):
        raise WebhookRefused(400, "webhook body is not a JSON object")
    message = cast(dict[str, Any], parsed).get("message")
    if not isinstance(message, dict):
        raise WebhookRefused(400, 'webhook body has no "message" object')
    message = cast(dict[str, Any], message)
    kind = message.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > _MAX_TYPE_CHARS:
        raise WebhookRefused(400, 'webhook message has no usable "type"')
    call: Call | None = None
    if isinstance(message.get("call"), dict):
        try:
            call = Call.model_validate(message["call"])
        except ValidationError:
            raise WebhookRefused(400, "webhook message carries a malformed call object") from None
        if not is_valid_id(call.id):
            raise WebhookRefused(400, "webhook message carries a call id that is not a valid id")
    stamp = message.get("timestamp")
    timestamp = float(stamp) if isinstance(stamp, int | float) and not isinstance(stamp, bool) else None
    return ServerMessage(type=kind, body=message, call=call, timestamp_ms=timestamp)
