"""CallSupervisor: the one object the MCP face talks to.

It owns the supervised calls (their latest Vapi snapshot and their event log), applies the
operator's policy, turns intents into Vapi control messages (built in ``control``), and runs
the background work (status polls, listen sessions; ``listening``) in the task group it is
given. It knows nothing of MCP: changes are told to a :class:`CallObserver`.

This module holds what the face asks for: calls, listening, control, reading, alert rules. Holding the calls,
and the wiring that keeps them current (pollers, listening, alerts and the inbox, the archive, recovery,
webhooks, replicas), is :class:`~vapi_mcp.supervisor.registry.CallRegistry`, which it extends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from vapi_mcp.errors import (
    CallEnded,
    CallNotSupervisable,
    ControlRejected,
    DeliveryUnknown,
    InvalidInput,
    ReadOnlyMode,
    RecordingUnavailable,
    ReportUnavailable,
    VapiMcpError,
)
from vapi_mcp.listen.recorder import tail_wav
from vapi_mcp.supervisor import control
from vapi_mcp.supervisor.alerts.config import describe_rules
from vapi_mcp.supervisor.calls import LISTENABLE, SupervisedCall, call_info
from vapi_mcp.supervisor.reading import page_view, wait_for_event, wait_on_log
from vapi_mcp.supervisor.registry import CallRegistry
from vapi_mcp.supervisor.transcript import conversation_text
from vapi_mcp.supervisor.views import (
    AlertRulesView,
    AudioSummary,
    CallInfo,
    ControlResult,
    EventsPage,
    ListenResult,
    WaitResult,
)
from vapi_mcp.vapi import Control, ControlMessage, EndCall
from vapi_mcp.vapi.models import ControlAction, TransferMode

__all__ = ["CallSupervisor"]

log = logging.getLogger(__name__)

Progress = Callable[[float, float], Awaitable[None]]


class CallSupervisor(CallRegistry):
    """Owns supervised calls, turns agent intents into Vapi control messages, and listens."""

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
        listen: bool = True,
        alert_rules: dict[str, Any] | None = None,
    ) -> CallInfo:
        """Place an outbound call with live control enabled, supervise it, and listen once it is in progress."""
        self._require_writable("create_call")
        self.alerts.rules_for(alert_rules)  # a bad rule is refused before anyone is dialled
        request = control.create_request(
            customer_number=customer_number,
            customer_name=customer_name,
            assistant_id=assistant_id,
            assistant=assistant,
            squad_id=squad_id,
            phone_number_id=phone_number_id,
            authenticated_monitor=self.settings.public_key is not None,
            allowlist=self.settings.transfer_allowlist,
        )
        call = await self.client.create_call(request)
        log.info("created call %s (status %s)", call.id[:80], call.status)
        try:
            sup = self._register(call, alert_rules)
        except InvalidInput as exc:  # a retrying agent must not place a second real call
            raise CallNotSupervisable(call.id, str(exc)) from None
        if listen and sup.has_listen_url:
            self._start_listening(sup)
        return call_info(sup.call, sup)

    async def attach_call(
        self, call_id: str, *, listen: bool = True, alert_rules: dict[str, Any] | None = None
    ) -> CallInfo:
        """Supervise a call started elsewhere (e.g. inbound), and listen to it unless told not to."""
        self.alerts.rules_for(alert_rules)
        sup = self._register(await self.client.get_call(call_id), alert_rules)
        if listen and not sup.ended:
            self._start_listening(sup)
        return call_info(sup.call, sup)

    async def get_call(self, call_id: str) -> CallInfo:
        if call_id in self._calls or call_id in self.archive:
            sup = await self.refresh(call_id)
            return call_info(sup.call, sup)
        return call_info(await self.client.get_call(call_id), None)

    async def list_calls(self, *, limit: int = 20, status: str | None = None) -> list[CallInfo]:
        remote = await self.client.list_calls(limit=100 if status else limit)
        seen: set[str] = set()
        infos: list[CallInfo] = []
        for call in remote:
            sup = self._calls.get(call.id)
            if sup is not None and not sup.ended:
                self._update(sup, call)
            seen.add(call.id)
            infos.append(call_info(call, sup))
        # Supervised calls Vapi did not list (older than the page) still belong in the answer.
        infos.extend(info for info in self.supervised_calls() if info.call_id not in seen)
        if status:
            infos = [info for info in infos if info.status == status]
        infos.sort(key=lambda info: info.created_at or "", reverse=True)
        return infos[:limit]

    # ------------------------------------------------------------------ listening
    async def start_listening(self, call_id: str) -> ListenResult:
        """Open the call's listen session in the background (supervising the call first if needed)."""
        sup = self._calls.get(call_id) or self.supervised((await self.attach_call(call_id, listen=False)).call_id)
        if sup.ended:
            return ListenResult(
                call_id=call_id, listening=False, listen_state=sup.listen_state, detail="call has ended"
            )
        self._start_listening(sup)
        detail = "listening" if sup.call.status in LISTENABLE else "will listen once in progress"
        return ListenResult(call_id=call_id, listening=True, listen_state=sup.listen_state, detail=detail)

    def stop_listening(self, call_id: str) -> ListenResult:
        sup = self.supervised(call_id)
        if self.replicas is not None and not self.replicas.owns(call_id):
            self.replicas.request_listen(call_id, False)
        else:
            self.listen_here(sup, False)
        return ListenResult(call_id=call_id, listening=False, listen_state=sup.listen_state, detail="stopping")

    # ------------------------------------------------------------------ control
    def _require_writable(self, action: str) -> None:
        if self.settings.read_only:
            raise ReadOnlyMode(action)

    async def _live(self, call_id: str) -> SupervisedCall:
        sup = self._calls.get(call_id)
        if sup is None:
            sup = self.supervised((await self.attach_call(call_id, listen=False)).call_id)
        if sup.ended:
            raise CallEnded(call_id, sup.call.ended_reason)
        return sup

    async def send(self, call_id: str, message: ControlMessage, summary: control.Summary) -> ControlResult:
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
        detail = control.describe(message.type, summary)
        # A log shared by replicas numbers the event in Redis: its seq is not known here yet (0 means None).
        return ControlResult(call_id=call_id, type=message.type, detail=detail, event_seq=event.seq or None)

    async def say(
        self, call_id: str, content: str, *, end_call_after_spoken: bool = False, interrupt_assistant: bool = False
    ) -> ControlResult:
        built = control.say(
            content, end_call_after_spoken=end_call_after_spoken, interrupt_assistant=interrupt_assistant
        )
        return await self.send(call_id, *built)

    async def add_message(
        self,
        call_id: str,
        content: str,
        *,
        role: Literal["system", "user", "assistant"] = "system",
        trigger_response: bool = True,
    ) -> ControlResult:
        return await self.send(call_id, *control.add_message(content, role=role, trigger_response=trigger_response))

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
        mode: TransferMode | None = None,
        operator_message: str | None = None,
        twiml: str | None = None,
    ) -> ControlResult:
        built = control.transfer(
            destination,
            allowlist=self.settings.transfer_allowlist,
            message=message,
            extension=extension,
            caller_id=caller_id,
            mode=mode,
            operator_message=operator_message,
            twiml=twiml,
        )
        return await self.send(call_id, *built)

    async def handoff(
        self,
        call_id: str,
        *,
        assistant_id: str | None = None,
        assistant: dict[str, Any] | None = None,
        context: control.ContextMode = "all",
        max_messages: int | None = None,
        message: str | None = None,
    ) -> ControlResult:
        built = control.handoff(
            assistant_id=assistant_id,
            assistant=assistant,
            context=context,
            max_messages=max_messages,
            message=message,
            allowlist=self.settings.transfer_allowlist,
        )
        return await self.send(call_id, *built)

    # ------------------------------------------------------------------ reading
    def events(
        self, call_id: str | None, *, after_seq: int = 0, limit: int = 100, types: list[str] | None = None
    ) -> EventsPage:
        """A page of the call's event log; with ``call_id`` None, of the fleet inbox."""
        if call_id is None:
            return self.inbox_events(after_seq=after_seq, limit=limit, types=types)
        sup = self.supervised(call_id)
        return page_view(call_id, sup.log.read(after_seq=after_seq, limit=limit, types=types))

    def inbox_events(self, *, after_seq: int = 0, limit: int = 100, types: list[str] | None = None) -> EventsPage:
        """The fleet inbox (alerts, calls added and ended, across calls)."""
        return page_view(None, self.alerts.inbox.log.read(after_seq=after_seq, limit=limit, types=types))

    def latest_inbox(self, limit: int = 200) -> EventsPage:
        """The inbox's last ``limit`` events (the inbox resource)."""
        latest = self.alerts.inbox.log.latest_seq
        return self.inbox_events(after_seq=max(0, latest - limit), limit=limit)

    def latest_events(self, call_id: str, limit: int = 200) -> EventsPage:
        """The last ``limit`` events (the events resource)."""
        sup = self.supervised(call_id)
        return self.events(call_id, after_seq=max(0, sup.log.latest_seq - limit), limit=limit)

    async def audio_summary(self, call_id: str) -> AudioSummary:
        sup = self.supervised(call_id)
        here = sup.summary_here()  # heard here, or read back from the data dir
        if here is not None:
            return here
        shared = await self.replicas.summary(call_id, sup.listen_state) if self.replicas is not None else None
        return shared or AudioSummary.silent(call_id, sup.listen_state)  # with replicas: the owner measures it

    def transcript(self, call_id: str) -> str:
        """The best transcript there is: Vapi's own conversation when a webhook brought it, else the final
        transcript lines read back from the event log (the journal keeps them all)."""
        sup = self.supervised(call_id)
        if sup.conversation is not None:
            return conversation_text(sup.conversation)
        return sup.transcript.read(sup.log)

    def report(self, call_id: str) -> dict[str, Any]:
        """Vapi's end-of-call report for the call (scrubbed), once a webhook brought it."""
        sup = self.supervised(call_id)
        if sup.report is None:
            raise ReportUnavailable(call_id)
        return sup.report

    def recording(self, call_id: str) -> bytes:
        """The latest ``recording_resource_s`` of the call's WAV recording."""
        sup = self.supervised(call_id)
        pipeline = sup.pipeline
        path = pipeline.recording_path if pipeline is not None else self.store.recording_path(call_id)
        if path is None or not path.exists():
            # Replicas: another replica recorded it (a shared volume would have the file here).
            owner = self.replicas.recorder(call_id) if self.replicas is not None else None
            raise RecordingUnavailable(call_id, owner=owner)
        if pipeline is not None and pipeline.recorder is not None:
            pipeline.recorder.flush()
        return tail_wav(path, self.settings.recording_resource_s)

    async def wait_for_event(
        self,
        call_id: str | None,
        *,
        types: list[str] | None = None,
        after_seq: int | None = None,
        timeout_s: float = 20.0,
        progress: Progress | None = None,
        tick_s: float = 1.0,
    ) -> WaitResult:
        """Block until an event (of ``types``) with seq > ``after_seq`` exists, or the timeout.

        With ``call_id`` None, wait on the fleet inbox.
        """
        if call_id is None:
            inbox = self.alerts.inbox.log
            return await wait_on_log(
                inbox,
                call_id=None,
                done=lambda: False,
                types=types,
                after_seq=after_seq,
                timeout_s=timeout_s,
                progress=progress,
                tick_s=tick_s,
            )
        sup = self.supervised(call_id)
        return await wait_for_event(
            sup, types=types, after_seq=after_seq, timeout_s=timeout_s, progress=progress, tick_s=tick_s
        )

    # ------------------------------------------------------------------ alert rules
    def set_alert_rules(self, rules: dict[str, Any], call_id: str | None = None) -> AlertRulesView:
        """Change one call's rules, or (no ``call_id``) the defaults of calls supervised from now on."""
        if call_id is None:
            return AlertRulesView(call_id=None, rules=describe_rules(self.alerts.set_defaults(rules)))
        sup = self.supervised(call_id)
        if sup.alerts is None:  # read back from the data dir: it ended before this process watched it
            raise CallEnded(call_id, sup.call.ended_reason)
        engine = sup.alerts.engine
        engine.configure(self.alerts.merge(engine.rules, rules))
        return AlertRulesView(call_id=call_id, rules=describe_rules(engine.rules))
