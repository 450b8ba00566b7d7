"""CallSupervisor: the one object the MCP face talks to.

It owns the supervised calls (their latest Vapi snapshot and their event log), applies the
operator's policy, turns tool arguments into Vapi control messages, and records what it did.
It knows nothing of MCP: changes are reported to a :class:`ChangeSink`, which the MCP face
turns into resource notifications.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio

from vapi_mcp.errors import (
    CallEnded,
    CallNotFound,
    ControlRejected,
    DeliveryUnknown,
    InvalidInput,
    ReadOnlyMode,
    VapiMcpError,
)
from vapi_mcp.listen.events import CallEvent, EventLog, EventPage
from vapi_mcp.listen.pipeline import AudioPipeline
from vapi_mcp.policy import check_transfer_allowed, classify_destination
from vapi_mcp.settings import Settings
from vapi_mcp.store.files import CallStorage
from vapi_mcp.supervisor.views import (
    AudioSummary,
    CallInfo,
    ControlResult,
    EventsPage,
    EventView,
    ListenState,
    WaitResult,
    resource_uris,
)
from vapi_mcp.vapi import (
    AddMessage,
    Call,
    ChatMessage,
    ContextEngineeringPlan,
    Control,
    ControlMessage,
    CreateCallRequest,
    Customer,
    EndCall,
    Handoff,
    HandoffAssistantDestination,
    Say,
    Transfer,
    TransferNumberDestination,
    TransferPlan,
    TransferSipDestination,
    VapiClient,
)
from vapi_mcp.vapi.models import ControlAction

__all__ = ["CallSupervisor", "ChangeSink", "SupervisedCall"]

log = logging.getLogger(__name__)

ContextMode = Literal["all", "none", "lastNMessages"]


class ChangeSink(Protocol):
    """Where the supervisor reports changes; the MCP face turns them into notifications."""

    def call_changed(self, call_id: str, aspects: tuple[str, ...]) -> None: ...

    def calls_changed(self) -> None: ...


class NullSink:
    def call_changed(self, call_id: str, aspects: tuple[str, ...]) -> None:
        return None

    def calls_changed(self) -> None:
        return None


# Which resources an event type changes (besides the event log itself).
_EVENT_ASPECTS: dict[str, tuple[str, ...]] = {
    "call.status": ("events", "call"),
    "listen.connected": ("events", "call"),
    "listen.reconnecting": ("events", "call"),
    "listen.closed": ("events", "call"),
    "transcript": ("events", "transcript"),
    "speech.started": ("events", "audio-summary"),
    "speech.stopped": ("events", "audio-summary"),
    "silence": ("events", "audio-summary"),
    "overlap": ("events", "audio-summary"),
}


@dataclass
class SupervisedCall:
    """What this server knows about one call it supervises."""

    call: Call
    log: EventLog
    listen_state: ListenState = "off"
    listen_wanted: bool = False
    pipeline: AudioPipeline | None = None

    @property
    def call_id(self) -> str:
        return self.call.id

    @property
    def ended(self) -> bool:
        return self.call.ended

    @property
    def idle(self) -> bool:
        """Ended, and no listen session is still finishing: safe to forget."""
        return self.ended and self.listen_state in ("off", "closed", "failed")


class CallSupervisor:
    """Owns supervised calls and turns agent intents into Vapi control messages."""

    def __init__(self, settings: Settings, client: VapiClient, storage: CallStorage, sink: ChangeSink | None = None):
        self.settings = settings
        self.client = client
        self.storage = storage
        self.sink: ChangeSink = sink or NullSink()
        self._calls: dict[str, SupervisedCall] = {}
        # Called with a SupervisedCall whenever its Vapi status changes (the listen manager hooks this).
        self.status_hooks: list[Callable[[SupervisedCall], None]] = []
        # Called once with each newly supervised call (the listen manager starts its status poller).
        self.register_hooks: list[Callable[[SupervisedCall], None]] = []

    # ------------------------------------------------------------------ registry
    @property
    def calls(self) -> dict[str, SupervisedCall]:
        return self._calls

    def supervised(self, call_id: str) -> SupervisedCall:
        sup = self._calls.get(call_id)
        if sup is None:
            raise CallNotFound(call_id, hint="This server does not supervise that call; use attach_call first.")
        return sup

    def _register(self, call: Call) -> SupervisedCall:
        sup = self._calls.get(call.id)
        if sup is not None:
            self._update(sup, call)
            return sup
        journal = self.storage.events_path(call.id)
        # The journal keeps every event, so the small default in-memory window is enough (and keeps memory flat).
        event_log = EventLog(call.id, journal=journal)
        sup = SupervisedCall(call=call, log=event_log)
        event_log.add_listener(lambda event, cid=call.id: self._on_event(cid, event))
        self._calls[call.id] = sup
        event_log.append("call.status", {"status": call.status, "endedReason": call.ended_reason})
        for hook in list(self.register_hooks):
            hook(sup)
        self.sink.calls_changed()
        return sup

    def _on_event(self, call_id: str, event: CallEvent) -> None:
        self.sink.call_changed(call_id, _EVENT_ASPECTS.get(event.type, ("events",)))

    def _update(self, sup: SupervisedCall, call: Call) -> None:
        """Store a fresh snapshot; log a call.status event when the status changed."""
        old_status = sup.call.status
        sup.call = call
        if call.status != old_status:
            sup.log.append("call.status", {"status": call.status, "endedReason": call.ended_reason})
            for hook in list(self.status_hooks):
                hook(sup)
            if call.ended:
                self._forget_old_calls()
                self.sink.calls_changed()

    def _forget_old_calls(self) -> None:
        """Keep at most ``max_ended_calls`` ended calls in memory (journals and recordings stay on disk)."""
        ended = [sup for sup in self._calls.values() if sup.idle]
        for sup in ended[: max(0, len(ended) - self.settings.max_ended_calls)]:
            del self._calls[sup.call_id]
            sup.log.close()
            log.info("forgot ended call %s (attach_call brings its event log back)", sup.call_id)

    def info(self, sup: SupervisedCall) -> CallInfo:
        return self._info(sup.call, sup)

    def _info(self, call: Call, sup: SupervisedCall | None) -> CallInfo:
        customer = call.customer
        return CallInfo(
            call_id=call.id,
            status=call.status,
            ended_reason=call.ended_reason,
            type=call.type,
            customer_number=customer.number if customer else None,
            customer_name=customer.name if customer else None,
            assistant_id=call.assistant_id,
            created_at=call.created_at,
            started_at=call.started_at,
            ended_at=call.ended_at,
            supervised=sup is not None,
            listening=bool(sup and sup.listen_wanted and sup.listen_state not in ("off", "closed", "failed")),
            listen_state=sup.listen_state if sup else "off",
            control_available=call.control_available,
            listen_available=call.listen_available,
            event_count=sup.log.latest_seq if sup else 0,
            resources=resource_uris(call.id) if sup else None,
        )

    # ------------------------------------------------------------------ calls
    async def create_call(
        self,
        *,
        customer_number: str,
        assistant_id: str | None = None,
        assistant: dict[str, Any] | None = None,
        squad_id: str | None = None,
        phone_number_id: str | None = None,
        customer_name: str | None = None,
    ) -> SupervisedCall:
        self._require_writable("create_call")
        chosen = [
            name for name, v in (("assistant_id", assistant_id), ("assistant", assistant), ("squad_id", squad_id)) if v
        ]
        if len(chosen) != 1:
            raise InvalidInput(f"give exactly one of assistant_id, assistant or squad_id (got {chosen or 'none'})")
        auth = self.settings.public_key is not None
        monitor_plan = {
            "listenEnabled": True,
            "controlEnabled": True,
            "listenAuthenticationEnabled": auth,
            "controlAuthenticationEnabled": auth,
        }
        request = CreateCallRequest(
            assistant_id=assistant_id,
            assistant=assistant,
            squad_id=squad_id,
            phone_number_id=phone_number_id,
            customer=Customer(number=customer_number, name=customer_name),
            assistant_overrides={"monitorPlan": monitor_plan},
        )
        call = await self.client.create_call(request)
        log.info("created call %s (status %s)", call.id, call.status)
        return self._register(call)

    async def attach_call(self, call_id: str) -> SupervisedCall:
        call = await self.client.get_call(call_id)
        return self._register(call)

    async def refresh(self, call_id: str) -> SupervisedCall:
        sup = self.supervised(call_id)
        if not sup.ended:
            self._update(sup, await self.client.get_call(call_id))
        return sup

    async def get_call(self, call_id: str) -> CallInfo:
        sup = self._calls.get(call_id)
        if sup is not None:
            return self.info(await self.refresh(call_id))
        return self._info(await self.client.get_call(call_id), None)

    async def list_calls(self, *, limit: int = 20, status: str | None = None) -> list[CallInfo]:
        remote = await self.client.list_calls(limit=100 if status else limit)
        seen: set[str] = set()
        infos: list[CallInfo] = []
        for call in remote:
            sup = self._calls.get(call.id)
            if sup is not None and not sup.ended:
                self._update(sup, call)
            seen.add(call.id)
            infos.append(self._info(call, sup))
        # Supervised calls Vapi did not list (older than the page) still belong in the answer.
        infos.extend(self.info(sup) for cid, sup in self._calls.items() if cid not in seen)
        if status:
            infos = [info for info in infos if info.status == status]
        infos.sort(key=lambda info: info.created_at or "", reverse=True)
        return infos[:limit]

    # ------------------------------------------------------------------ control
    def _require_writable(self, action: str) -> None:
        if self.settings.read_only:
            raise ReadOnlyMode(action)

    async def _live(self, call_id: str) -> SupervisedCall:
        sup = self._calls.get(call_id)
        if sup is None:
            sup = await self.attach_call(call_id)
        if sup.ended:
            raise CallEnded(call_id, sup.call.ended_reason)
        return sup

    async def send(self, call_id: str, message: ControlMessage, summary: dict[str, Any]) -> ControlResult:
        """Send one control message, logging a ``control.sent`` event whatever happens."""
        self._require_writable(message.type)
        sup = await self._live(call_id)
        try:
            await self.client.send_control(sup.call, message)
        except ControlRejected as exc:
            sup.log.append("control.sent", {"type": message.type, "ok": False, "error": str(exc), **summary})
            if exc.status_code in (404, 410):
                await self.refresh(call_id)
                if sup.ended:
                    raise CallEnded(call_id, sup.call.ended_reason) from None
            raise
        except Exception as exc:
            # ok is null when the outcome is unknown: the message may have been delivered, so never resend it.
            ok = None if isinstance(exc, DeliveryUnknown) else False
            error = str(exc) if isinstance(exc, VapiMcpError) else type(exc).__name__  # our errors are sanitised
            sup.log.append("control.sent", {"type": message.type, "ok": ok, "error": error, **summary})
            raise
        event = sup.log.append("control.sent", {"type": message.type, "ok": True, **summary})
        return ControlResult(
            call_id=call_id, type=message.type, detail=_describe(message.type, summary), event_seq=event.seq
        )

    async def say(
        self, call_id: str, content: str, *, end_call_after_spoken: bool = False, interrupt_assistant: bool = False
    ) -> ControlResult:
        message = Say(
            content=content,
            end_call_after_spoken=end_call_after_spoken,
            interrupt_assistant_enabled=interrupt_assistant,
        )
        return await self.send(
            call_id, message, {"content": _clip(content), "endCallAfterSpoken": end_call_after_spoken}
        )

    async def add_message(
        self,
        call_id: str,
        content: str,
        *,
        role: Literal["system", "user", "assistant"] = "system",
        trigger_response: bool = True,
    ) -> ControlResult:
        message = AddMessage(message=ChatMessage(role=role, content=content), trigger_response_enabled=trigger_response)
        return await self.send(
            call_id, message, {"role": role, "content": _clip(content), "triggerResponse": trigger_response}
        )

    async def control(self, call_id: str, action: ControlAction) -> ControlResult:
        return await self.send(call_id, Control(control=action), {"control": action})

    async def end_call(self, call_id: str) -> ControlResult:
        return await self.send(call_id, EndCall(), {})

    async def transfer(
        self,
        call_id: str,
        destination: str,
        *,
        message: str | None = None,
        extension: str | None = None,
        caller_id: str | None = None,
        mode: str | None = None,
    ) -> ControlResult:
        kind = classify_destination(destination)
        check_transfer_allowed(destination, self.settings.transfer_allowlist)
        plan = TransferPlan(mode=mode) if mode else None
        dest: TransferNumberDestination | TransferSipDestination
        if kind == "number":
            extra: dict[str, Any] = {"extension": extension} if extension else {}
            if caller_id:
                extra["caller_id"] = caller_id
            if plan:
                extra["transfer_plan"] = plan
            dest = TransferNumberDestination(number=destination, **extra)
        else:
            if extension:
                raise InvalidInput("extension applies to phone-number destinations only, not SIP URIs")
            extra = {"caller_id": caller_id} if caller_id else {}
            if plan:
                extra["transfer_plan"] = plan
            dest = TransferSipDestination(sip_uri=destination, **extra)
        transfer = Transfer(destination=dest, content=message) if message else Transfer(destination=dest)
        return await self.send(call_id, transfer, {"destination": destination, "kind": kind, "mode": mode})

    async def handoff(
        self,
        call_id: str,
        *,
        assistant_id: str | None = None,
        assistant: dict[str, Any] | None = None,
        context: ContextMode = "all",
        max_messages: int | None = None,
        message: str | None = None,
    ) -> ControlResult:
        if bool(assistant_id) == bool(assistant):
            raise InvalidInput("give exactly one of assistant_id or assistant")
        if context == "lastNMessages" and max_messages is None:
            raise InvalidInput("context=lastNMessages needs max_messages")
        if context != "lastNMessages" and max_messages is not None:
            raise InvalidInput("max_messages applies only to context=lastNMessages")
        plan = (
            ContextEngineeringPlan(type=context, max_messages=max_messages)
            if max_messages
            else ContextEngineeringPlan(type=context)
        )
        target: dict[str, Any] = {"assistant_id": assistant_id} if assistant_id else {"assistant": assistant}
        dest = HandoffAssistantDestination(context_engineering_plan=plan, **target)
        handoff = Handoff(destination=dest, content=message) if message else Handoff(destination=dest)
        return await self.send(call_id, handoff, {"assistantId": assistant_id, "context": context})

    # ------------------------------------------------------------------ events
    def events(
        self, call_id: str, *, after_seq: int = 0, limit: int = 100, types: list[str] | None = None
    ) -> EventsPage:
        sup = self.supervised(call_id)
        return page_view(call_id, sup.log.read(after_seq=after_seq, limit=limit, types=types))

    def audio_summary(self, call_id: str) -> AudioSummary:
        sup = self.supervised(call_id)
        if sup.pipeline is None:
            return AudioSummary(call_id=call_id, listen_state=sup.listen_state)
        summary: Any = sup.pipeline.summary()
        data: dict[str, Any] = summary if isinstance(summary, dict) else summary.model_dump()
        return AudioSummary.model_validate({**data, "call_id": call_id, "listen_state": sup.listen_state})

    def transcript(self, call_id: str) -> str:
        """Final transcript lines, read back from the event log (the journal keeps them all)."""
        log_ = self.supervised(call_id).log
        lines: list[str] = []
        after = 0
        while True:
            page = log_.read(after_seq=after, limit=1000, types=["transcript"])
            lines.extend(f"{e.data['role']}: {e.data['text']}" for e in page.events if e.data.get("final"))
            if page.next_seq <= after or page.next_seq >= page.latest_seq:
                return "".join(f"{line}\n" for line in lines)
            after = page.next_seq

    async def wait_for_event(
        self,
        call_id: str,
        *,
        types: list[str] | None = None,
        after_seq: int | None = None,
        timeout_s: float = 20.0,
        progress: Callable[[float, float], Awaitable[None]] | None = None,
        tick_s: float = 1.0,
    ) -> WaitResult:
        """Block until an event (of ``types``) with seq > ``after_seq`` exists, or the timeout.

        ``after_seq`` defaults to the latest seq, i.e. wait for something new. Returns early,
        unmatched, once the call has ended and nothing more can arrive.
        """
        sup = self.supervised(call_id)
        since = sup.log.latest_seq if after_seq is None else after_seq
        wanted = set(types) if types else None
        arrived = anyio.Event()

        def on_event(event: CallEvent) -> None:
            if wanted is None or event.type in wanted:
                arrived.set()

        started = time.monotonic()
        unsubscribe = sup.log.add_listener(on_event)
        try:
            while True:
                page = sup.log.read(after_seq=since, limit=100, types=types)
                waited = time.monotonic() - started
                if (
                    page.events
                    or waited >= timeout_s
                    or (sup.ended and sup.listen_state in ("off", "closed", "failed"))
                ):
                    return WaitResult(
                        call_id=call_id,
                        matched=bool(page.events),
                        events=page_view(call_id, page).events,
                        next_seq=page.next_seq if page.events else max(since, page.next_seq),
                        waited_s=round(waited, 3),
                        call_status=sup.call.status,
                    )
                with anyio.move_on_after(min(tick_s, timeout_s - waited)):
                    await arrived.wait()
                if progress is not None and not arrived.is_set():
                    await progress(round(time.monotonic() - started, 1), timeout_s)
        finally:
            unsubscribe()


def page_view(call_id: str, page: EventPage) -> EventsPage:
    return EventsPage(
        call_id=call_id,
        events=[EventView.model_validate(e.model_dump()) for e in page.events],
        next_seq=page.next_seq,
        latest_seq=page.latest_seq,
        dropped_before=page.dropped_before,
    )


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(kind: str, summary: dict[str, Any]) -> str:
    if kind == "control":
        return f"{summary.get('control')} sent"
    if kind == "transfer":
        return f"transfer to {summary.get('destination')} sent; the call will forward, then end"
    if kind == "end-call":
        return "end-call sent; the call is ending"
    return f"{kind} sent"
