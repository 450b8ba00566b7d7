"""Webhook intake: Vapi's server messages become events of the supervised calls (DESIGN §12).

:meth:`WebhookIntake.handle` takes one request as bytes (headers, body) and returns the answer for Vapi; the
face only moves bytes. In order: the credential (401), the envelope (400; 413 is the face's, while reading),
then the message is recorded, then it is relayed to the user's own Server URL when one is configured, whose
answer goes back to Vapi unchanged. A refused request records nothing.

What each message becomes:

======================================  =====================================================================
``status-update``                        ``call.status`` (an unknown, live call is supervised by itself)
``transcript`` (partial / final)         ``transcript`` with ``final``; partials coalesced, finals once
``speech-update``                        ``speech.update`` (role, status)
``end-of-call-report``                   ``call.report`` + the report resource (and the call is ended)
``hang``, ``user-interrupted``, …        ``vapi.<type>``
``conversation-update``                  nothing logged; the latest conversation feeds the transcript
anything else                            ``vapi.message``
======================================  =====================================================================

Everything stored is scrubbed first (:func:`vapi_mcp.redact.scrub`): messages carry the call object with its
monitor URLs, and may carry credentials. A delivery seen before (the same body, as Vapi's retries send it)
is answered again but recorded once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from vapi_mcp.errors import VapiMcpError, WebhookRefused
from vapi_mcp.listen.frames import read_transcript
from vapi_mcp.redact import scrub
from vapi_mcp.settings import ConfigError, Settings
from vapi_mcp.supervisor.calls import SupervisedCall
from vapi_mcp.supervisor.observer import CallObserver
from vapi_mcp.vapi.forward import Forwarder
from vapi_mcp.vapi.models import Call
from vapi_mcp.vapi.server_messages import MAX_BODY_BYTES, ServerMessage, parse_server_message
from vapi_mcp.vapi.webhook_auth import WebhookAuth

__all__ = ["EVENT_TYPES", "MAX_BODY_BYTES", "WebhookIntake", "WebhookReply", "webhook_auth"]

log = logging.getLogger(__name__)

EVENT_TYPES = ("hang", "user-interrupted", "transfer-update", "language-change-detected")
"""Messages logged as ``vapi.<type>``."""

# The parts of a message that repeat the call, the assistant or the conversation: never copied into an event.
_BULKY = frozenset(
    {"call", "assistant", "customer", "phoneNumber", "artifact", "messages", "messagesOpenAIFormatted", "chat"}
)
_ROLES = {"user": "customer", "customer": "customer", "assistant": "assistant", "bot": "assistant"}
_SEEN_DELIVERIES = 4096
_MAX_CONVERSATION = 2000


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What Vapi is answered: status, JSON body bytes, content type."""

    status: int
    body: bytes = b"{}"
    content_type: str = "application/json"


def webhook_auth(settings: Settings) -> WebhookAuth:
    """The credential webhooks must carry; a :class:`ConfigError` when none is configured."""
    if settings.webhook_secret is None:
        raise ConfigError(
            "the webhook intake needs VAPI_MCP_WEBHOOK_SECRET: set it, and give Vapi the same value as the Server "
            "URL's credential (bearer / X-Vapi-Secret, or HMAC with VAPI_MCP_WEBHOOK_HMAC=true)"
        )
    try:
        return WebhookAuth(
            secret=settings.webhook_secret,
            hmac=settings.webhook_hmac,
            signature_header=settings.webhook_signature_header,
            timestamp_header=settings.webhook_timestamp_header,
        )
    except ValueError as exc:
        raise ConfigError(f"webhook settings: {exc}") from None


def _brief(body: Mapping[str, Any]) -> dict[str, Any]:
    """A message without the call, assistant and conversation it repeats, scrubbed."""
    return cast(dict[str, Any], scrub({k: v for k, v in body.items() if k not in _BULKY and k != "type"}))


def _object(value: object) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _seconds_between(start: object, end: object) -> float | None:
    """Seconds from one ISO timestamp to another, when both are there and readable."""
    if not (isinstance(start, str) and isinstance(end, str)):
        return None
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (ValueError, TypeError):
        return None
    return round(seconds, 3)


def _text(value: object, limit: int = 100) -> str | None:
    return cast(str, scrub(value))[:limit] if isinstance(value, str) else None


class WebhookIntake:
    """Turns server messages into events of the supervisor's calls. Built by the supervisor, which it serves."""

    def __init__(
        self,
        settings: Settings,
        *,
        calls: Mapping[str, SupervisedCall],
        register: Callable[[Call], SupervisedCall],
        update: Callable[[SupervisedCall, Call], None],
        listen: Callable[[SupervisedCall], None],
        observer: CallObserver,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._calls = calls
        self._register = register
        self._update = update
        self._listen = listen
        self._observer = observer
        self._clock = clock
        self._auth: WebhookAuth | None = None
        self._forwarder = (
            Forwarder(settings.webhook_forward_url, timeout_s=settings.webhook_forward_timeout_s)
            if settings.webhook_forward_url
            else None
        )
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self.received = 0  # messages recorded (tests, diagnostics)

    @property
    def auth(self) -> WebhookAuth:
        """The credential check (built on first use: a server without webhooks needs no secret)."""
        if self._auth is None:
            self._auth = webhook_auth(self.settings)
        return self._auth

    async def aclose(self) -> None:
        if self._forwarder is not None:
            await self._forwarder.aclose()

    # ------------------------------------------------------------------ one request
    async def handle(self, headers: Mapping[str, str], body: bytes) -> WebhookReply:
        """Check, record and (when configured) forward one webhook request; never raises."""
        try:
            self.auth.check(headers, body, self._clock())
            message = parse_server_message(body)
        except WebhookRefused as exc:
            log.warning("webhook refused (%d): %s", exc.status, exc)
            return WebhookReply(exc.status, f'{{"error": "{exc.status}"}}'.encode())
        if self._first_delivery(body):
            try:
                self.record(message)
            except VapiMcpError as exc:
                log.warning("webhook %s for call %s not recorded: %s", message.type, message.call_id, exc)
            except Exception:  # one odd message must not cost Vapi its answer
                log.exception("webhook %s for call %s not recorded", message.type, message.call_id)
        else:
            log.info("webhook %s for call %s delivered again; recorded once", message.type, message.call_id)
        if self._forwarder is not None:
            answer = await self._forwarder.relay(headers, body)
            return WebhookReply(answer.status, answer.body, answer.content_type)
        return WebhookReply(200)

    def _first_delivery(self, body: bytes) -> bool:
        digest = hashlib.sha256(body).digest()
        if digest in self._seen:
            self._seen.move_to_end(digest)
            return False
        self._seen[digest] = None
        while len(self._seen) > _SEEN_DELIVERIES:
            self._seen.popitem(last=False)
        return True

    # ------------------------------------------------------------------ recording
    def record(self, message: ServerMessage) -> None:
        """Log what ``message`` says about its call (supervising the call first when it is new and live)."""
        sup = self._supervised(message)
        if sup is None:
            return
        self.received += 1
        body = message.body
        kind = message.type
        if kind == "status-update":
            self._status(sup, message)
        elif kind.startswith("transcript"):
            self._transcript(sup, body)
        elif kind == "speech-update":
            role = _ROLES.get(str(body.get("role")), _text(body.get("role")))
            data: dict[str, Any] = {"role": role, "status": _text(body.get("status"))}
            if isinstance(body.get("turn"), int | float):
                data["turn"] = body["turn"]
            sup.log.append("speech.update", data)
        elif kind == "end-of-call-report":
            self._report(sup, message)
        elif kind == "conversation-update":
            self._conversation(sup, body.get("messages"))
        elif kind in EVENT_TYPES:
            sup.log.append(f"vapi.{kind}", _brief(body))
        else:
            sup.log.append("vapi.message", {"type": _text(kind), "message": _brief(body)})

    def _supervised(self, message: ServerMessage) -> SupervisedCall | None:
        call = message.call
        if call is None:
            log.debug("webhook %s names no call; nothing to record", message.type)
            return None
        sup = self._calls.get(call.id)
        if sup is not None:
            return sup
        status = message.body.get("status") if message.type == "status-update" else call.status
        live = isinstance(status, str) and status != "ended" and message.type != "end-of-call-report"
        if not (self.settings.auto_attach and live):
            log.debug("webhook %s for unsupervised call %s ignored", message.type, call.id)
            return None
        if isinstance(status, str):
            call = call.model_copy(update={"status": status[:64]})
        sup = self._register(call)
        if message.type == "status-update":
            self._mark_status(sup, message)
        log.info("supervising call %s, announced by a %s webhook (%s)", call.id, message.type, call.type or "call")
        if sup.has_listen_url:
            self._listen(sup)
        return sup

    def _mark_status(self, sup: SupervisedCall, message: ServerMessage) -> None:
        sup.webhook_status_at = time.monotonic()
        if message.timestamp_ms is not None:
            sup.webhook_status_stamp = max(sup.webhook_status_stamp or 0.0, message.timestamp_ms)

    def _status(self, sup: SupervisedCall, message: ServerMessage) -> None:
        status = message.body.get("status")
        if not isinstance(status, str) or not status:
            sup.log.append("vapi.message", {"type": "status-update", "message": _brief(message.body)})
            return
        stamp, latest = message.timestamp_ms, sup.webhook_status_stamp
        self._mark_status(sup, message)
        if sup.ended or (stamp is not None and latest is not None and stamp < latest):
            log.debug("call %s: stale status-update %s ignored", sup.call_id, status)
            return  # out of order: a later status already came (and ended is final)
        reason = message.body.get("endedReason")
        update: dict[str, Any] = {"status": status[:64]}
        if isinstance(reason, str):
            update["ended_reason"] = _text(reason, 200)
        self._update(sup, sup.call.model_copy(update=update))

    def _transcript(self, sup: SupervisedCall, body: dict[str, Any]) -> None:
        frame = read_transcript(body)
        if frame is None:
            sup.log.append("vapi.message", {"type": _text(body.get("type")), "message": _brief(body)})
        elif sup.gate.accept(frame.role, frame.text, frame.final, "webhook"):
            sup.log.append("transcript", {"role": frame.role, "text": frame.text, "final": frame.final})

    def _report(self, sup: SupervisedCall, message: ServerMessage) -> None:
        body = message.body
        report = cast(dict[str, Any], scrub({k: v for k, v in body.items() if k not in _BULKY or k == "artifact"}))
        sup.report = report
        analysis = _object(report.get("analysis"))
        artifact = _object(report.get("artifact"))
        headline: dict[str, Any] = {
            "endedReason": report.get("endedReason"),
            "durationSeconds": report.get(
                "durationSeconds", _seconds_between(report.get("startedAt"), report.get("endedAt"))
            ),
            "cost": report.get("cost"),
            "summary": analysis.get("summary", report.get("summary")),
            "successEvaluation": analysis.get("successEvaluation"),
            "recordingUrl": artifact.get("recordingUrl", report.get("recordingUrl")),
            "stereoRecordingUrl": artifact.get("stereoRecordingUrl", report.get("stereoRecordingUrl")),
            "startedAt": report.get("startedAt"),
            "endedAt": report.get("endedAt"),
        }
        sup.log.append("call.report", {k: v for k, v in headline.items() if v is not None})
        messages = artifact.get("messages")
        if isinstance(messages, list):
            self._conversation(sup, cast(list[object], messages))
        if not sup.ended:
            update: dict[str, Any] = {"status": "ended"}
            if isinstance(body.get("endedReason"), str):
                update["ended_reason"] = _text(body["endedReason"], 200)
            self._update(sup, sup.call.model_copy(update=update))

    def _conversation(self, sup: SupervisedCall, messages: object) -> None:
        if not isinstance(messages, list):
            return
        kept: list[object] = [
            item for item in cast(list[object], messages)[-_MAX_CONVERSATION:] if isinstance(item, dict)
        ]
        sup.conversation = cast(list[dict[str, Any]], scrub(kept))
        self._observer.call_changed(sup.call_id, ("transcript",))
