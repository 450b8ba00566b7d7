"""Server messages, as Vapi posts them to a Server URL (reference/vapi-api.md §4, §7.9).

Each call's messages go to its assistant's ``server.url`` (``assistant`` or ``assistantOverrides``), else to
the emulator's ``server_url`` option, in Vapi's envelope ``{"message": {"type", "timestamp", "call", …}}``,
only for the types the assistant's ``serverMessages`` names (Vapi's default list when it names none), with
the credential the options describe: ``X-Vapi-Secret`` (``server_secret``), or Vapi's HMAC credential
(``server_hmac_secret``: hex HMAC-SHA256 of ``{timestamp}.{body}`` in ``x-signature``, the timestamp in
``x-timestamp``, milliseconds), plus the assistant server's static ``headers``.

Delivery is per call and in order, each POST bounded by ``webhook_timeout_s`` (Vapi's ``timeoutSeconds``);
an answer is read but a failure changes nothing (Vapi's ``backoffPlan`` defaults to no retry). Test knobs
make a sender misbehave the ways real deliveries do: every message twice (``webhook_duplicates``), pairs
swapped (``webhook_out_of_order``), a wrong signature (``webhook_bad_signature``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2

from vapi_mcp.emulator.options import EmulatorOptions
from vapi_mcp.emulator.state import CallState
from vapi_mcp.emulator.wire import as_object

__all__ = ["DEFAULT_SERVER_MESSAGES", "Delivery", "WebhookSender"]

log = logging.getLogger(__name__)

DEFAULT_SERVER_MESSAGES = (
    "conversation-update",
    "end-of-call-report",
    "function-call",
    "hang",
    "speech-update",
    "status-update",
    "tool-calls",
    "transfer-destination-request",
    "handoff-destination-request",
    "user-interrupted",
    "assistant.started",
)
"""``assistant.serverMessages`` when an assistant names none (vapi-server-sdk 3.0.0; no ``transcript``)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST as the emulator made it: the message type and the answer's status (0: no answer)."""

    type: str
    status: int
    body: bytes = field(repr=False, default=b"")


@dataclass(slots=True)
class _Target:
    url: str
    headers: dict[str, str]
    messages: frozenset[str]
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue[dict[str, Any]])
    held: dict[str, Any] | None = None  # webhook_out_of_order: waits to go after the next message
    task: asyncio.Task[None] | None = None


def _server_config(call: CallState) -> tuple[dict[str, Any], list[str] | None]:
    """The call's assistant ``server`` object and ``serverMessages`` (overrides win), as Vapi resolves them."""
    server: dict[str, Any] = {}
    messages: list[str] | None = None
    for holder in (as_object(call.request.get("assistant")), as_object(call.request.get("assistantOverrides"))):
        if holder is None:
            continue
        server = as_object(holder.get("server")) or server
        listed = holder.get("serverMessages")
        if isinstance(listed, list):
            messages = [str(item) for item in listed]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return server, messages


class WebhookSender:
    """Posts each call's server messages to its Server URL. ``deliveries`` logs what was posted."""

    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.deliveries: list[Delivery] = []
        self._targets: dict[str, _Target] = {}
        self._closed = False
        self.server_url = options.server_url  # may be set later (a receiver started after the emulator)
        self._http = httpx2.AsyncClient(timeout=options.webhook_timeout_s, follow_redirects=False)

    def attach(self, call: CallState) -> None:
        """Send ``call``'s messages from now on, if it has a Server URL."""
        server, listed = _server_config(call)
        url = server.get("url") if isinstance(server.get("url"), str) else self.server_url
        if not url:
            return
        headers = {str(k): str(v) for k, v in (as_object(server.get("headers")) or {}).items()}
        if isinstance(server.get("secret"), str):  # the legacy inline secret
            headers["X-Vapi-Secret"] = server["secret"]
        elif self.options.server_secret and not self.options.server_hmac_secret:
            headers["X-Vapi-Secret"] = self.options.server_secret
        listed = listed if listed is not None else list(self.options.server_messages or DEFAULT_SERVER_MESSAGES)
        self._targets[call.id] = _Target(url=str(url), headers=headers, messages=frozenset(listed))
        call.on_message = self.emit

    def emit(self, call: CallState, message: dict[str, Any]) -> None:
        """Queue one message (``type`` and its own fields) for ``call``'s Server URL."""
        target = self._targets.get(call.id)
        kind = str(message.get("type"))
        if (
            self._closed
            or target is None
            or not (kind in target.messages or _final_wanted(kind, message, target.messages))
        ):
            return
        envelope = {"message": {**message, "timestamp": int(time.time() * 1000), **self._context(call)}}
        ready = [envelope]
        if self.options.webhook_out_of_order:  # pairs go newer first: hold one until the next comes
            ready = [] if target.held is None else [envelope, target.held]
            target.held = envelope if target.held is None else None
        last = kind == "end-of-call-report" or (kind == "status-update" and message.get("status") == "ended")
        if last and target.held is not None:
            ready.append(target.held)
            target.held = None
        for item in ready:
            target.queue.put_nowait(item)
        if target.task is None or target.task.done():
            target.task = asyncio.get_running_loop().create_task(self._deliver(target), name="emulator-webhooks")

    def _context(self, call: CallState) -> dict[str, Any]:
        api = call.to_api()
        context: dict[str, Any] = {"call": api}
        if "customer" in api:
            context["customer"] = api["customer"]
        if isinstance(call.request.get("assistant"), dict):
            context["assistant"] = call.request["assistant"]
        return context

    async def _deliver(self, target: _Target) -> None:
        while not target.queue.empty():
            envelope = target.queue.get_nowait()
            for _ in range(2 if self.options.webhook_duplicates else 1):
                await self._post(target, envelope)

    async def _post(self, target: _Target, envelope: dict[str, Any]) -> None:
        body = json.dumps(envelope, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **target.headers, **self._signature(body)}
        kind = str(envelope["message"]["type"])
        try:
            response = await self._http.post(target.url, content=body, headers=headers)
        except httpx2.HTTPError as exc:
            log.info("emulator webhook %s: no answer (%s)", kind, type(exc).__name__)
            self.deliveries.append(Delivery(kind, 0))
            return
        self.deliveries.append(Delivery(kind, response.status_code, response.content))

    def _signature(self, body: bytes) -> dict[str, str]:
        secret = self.options.server_hmac_secret
        if not secret:
            return {}
        stamp = str(int(time.time() * 1000))
        signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if self.options.webhook_bad_signature:
            signature = signature[::-1]
        return {"x-signature": signature, "x-timestamp": stamp}

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks = [t.task for t in self._targets.values() if t.task is not None and not t.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        for task in tasks:
            task.cancel()
        await self._http.aclose()


def _final_wanted(kind: str, message: dict[str, Any], wanted: frozenset[str]) -> bool:
    """``transcript[transcriptType="final"]`` in serverMessages: final transcripts only."""
    return (
        kind == "transcript"
        and message.get("transcriptType") == "final"
        and any(item.startswith("transcript[") for item in wanted)
    )
