"""CallSupervisor: the one object the MCP face talks to.

It owns the supervised calls (their latest Vapi snapshot and their event log), applies the
operator's policy, turns intents into Vapi control messages (built in ``control``), and runs
the background work (status polls, listen sessions; ``listening``) in the task group it is
given. It knows nothing of MCP: changes are told to a :class:`CallObserver`.

Over the ~400-line guideline (some 630 lines) since the fleet inbox and alerts, webhooks, recovery and replicas each
added their entry points here; not split yet, for want of a full test run in the stop that grew it. The split
to make: the inbox and alert wiring into its own module, and the webhook / recovery / replica entry points
behind the modules that already hold their logic (``webhooks``, ``recovery``, ``replicas``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio.abc

from vapi_mcp.errors import (
    CallEnded,
    CallNotFound,
    CallNotSupervisable,
    ControlRejected,
    ControlUnavailable,
    DeliveryUnknown,
    InvalidInput,
    ReadOnlyMode,
    RecordingUnavailable,
    ReportUnavailable,
    VapiMcpError,
)
from vapi_mcp.listen.events import CallEvent, EventLog
from vapi_mcp.listen.recorder import tail_wav
from vapi_mcp.settings import Settings
from vapi_mcp.store.local import LocalStore
from vapi_mcp.supervisor import control
from vapi_mcp.supervisor.alerts.config import AlertRules, describe_rules
from vapi_mcp.supervisor.alerts.fleet import FleetAlerts, alert_defaults
from vapi_mcp.supervisor.alerts.inbox import Inbox
from vapi_mcp.supervisor.archive import CallArchive
from vapi_mcp.supervisor.calls import LISTENABLE, SupervisedCall, call_info
from vapi_mcp.supervisor.listening import Listening
from vapi_mcp.supervisor.observer import EVENT_ASPECTS, CallObserver, NullObserver
from vapi_mcp.supervisor.polling import StatusPoller
from vapi_mcp.supervisor.reading import page_view, wait_for_event, wait_on_log
from vapi_mcp.supervisor.recovery import Recovery, RecoveryReport
from vapi_mcp.supervisor.replicas import Replicas
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
from vapi_mcp.supervisor.webhooks import WebhookIntake
from vapi_mcp.vapi import Call, Control, ControlMessage, EndCall, VapiClient
from vapi_mcp.vapi.models import ControlAction, TransferMode

__all__ = ["CallSupervisor"]

log = logging.getLogger(__name__)

Progress = Callable[[float, float], Awaitable[None]]


class CallSupervisor:
    """Owns supervised calls, turns agent intents into Vapi control messages, and listens."""

    def __init__(
        self,
        settings: Settings,
        client: VapiClient,
        store: LocalStore,
        tasks: anyio.abc.TaskGroup,
        observer: CallObserver | None = None,
        replicas: Replicas | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.replicas = replicas  # None: the embedded default; else the fleet is shared through Redis
        self.observer: CallObserver = observer or NullObserver()
        if replicas is not None:
            self.observer = replicas.observe(self.observer)
            replicas.bind(self, tasks)
        self._calls: dict[str, SupervisedCall] = {}
        # With replicas the inbox is one shared log in Redis too (Inbox.log replaced before any event).
        inbox = Inbox(store.open_inbox_journal() if replicas is None else None)
        if replicas is not None:
            inbox.log = replicas.open_inbox()
        self.alerts = FleetAlerts(alert_defaults(settings), inbox, tasks, on_inbox=self.observer.inbox_changed)
        self._poller = StatusPoller(
            settings,
            tasks,
            client=client,
            calls=self._calls,
            update=self._update,
            refresh=self.refresh,
            on_gone=lambda sup: self._listening.unwatch(sup),
        )
        self._listening = Listening(
            settings,
            tasks,
            refresh=self.refresh,
            observer=self.observer,
            recording_path=store.recording_path,
            on_audio=self._audio_analysed,
            wake_poller=self._poller.wake,
            on_idle=lambda _sup: self._forget_old_calls(),
        )
        self._tasks = tasks
        self.archive = CallArchive(store)  # the calls on disk that memory does not hold (DESIGN §13)
        self.recovery = Recovery(
            settings,
            client,
            store,
            self.archive,
            self._listening,
            register=lambda call: self._register(call, announce_end=False),
            ended=self._call_ended,
            held=self._calls.keys,
        )
        self.webhooks = WebhookIntake(
            settings,
            calls=self._calls,
            register=self._register,
            update=self._update,
            listen=self._start_listening,
            observer=self.observer,
        )

    async def recover(self) -> RecoveryReport:
        """Index the data dir (its calls are listed once this returns); resume unfinished calls in the background."""
        return await self.recovery.start(self._tasks)

    # ------------------------------------------------------------------ registry
    @property
    def calls(self) -> dict[str, SupervisedCall]:
        """The supervised calls by id (read-only use: the supervisor owns them)."""
        return self._calls

    def supervised(self, call_id: str) -> SupervisedCall:
        sup = self._calls.get(call_id)
        if sup is None and self.replicas is not None:
            sup = self.replicas.adopt_now(call_id)  # a call another replica supervises
        sup = sup or self._from_disk(call_id)
        if sup is None:
            raise CallNotFound(call_id, hint="This server does not supervise that call; use attach_call first.")
        return sup

    def supervised_calls(self) -> list[CallInfo]:
        held = [call_info(sup.call, sup) for sup in self._calls.values()]
        return held + self.archive.infos(exclude=self._calls)

    def _from_disk(self, call_id: str) -> SupervisedCall | None:
        """A call the data dir holds (found at start, or forgotten by the memory cap), held in memory again."""
        try:
            loaded = self.archive.load(call_id)
        except (OSError, VapiMcpError) as exc:
            log.warning("cannot read call %s from the data dir: %s", call_id, type(exc).__name__)
            return None
        if loaded is None:
            return None
        sup = self._hold(loaded)
        self._forget_old_calls()
        return sup

    def _hold(self, sup: SupervisedCall) -> SupervisedCall:
        sup.log.add_listener(lambda event, cid=sup.call_id: self._on_event(cid, event))
        self._calls[sup.call_id] = sup
        self.archive.drop(sup.call_id)
        return sup

    def _register(
        self, call: Call, alert_rules: dict[str, Any] | None = None, *, announce_end: bool = True
    ) -> SupervisedCall:
        """Supervise ``call`` (or update the one held). A call already over is announced ended at once, unless
        ``announce_end`` is false: the restart recovery announces it once its recording gave the final summary."""
        sup = self._calls.get(call.id)
        if sup is not None:
            if alert_rules and sup.alerts is not None:
                sup.alerts.engine.configure(self.alerts.merge(sup.alerts.engine.rules, alert_rules))
            self._update(sup, call)
            return sup
        rules = self.alerts.rules_for(alert_rules)  # before anything is stored: a bad rule changes nothing
        if self.replicas is None:
            # The journal keeps every event, so the small default in-memory window is enough (memory stays flat).
            new, owner, event_log = True, True, EventLog(call.id, journal=self.store.open_journal(call.id))
        else:
            event_log = self.replicas.open_log(call.id)
            new, owner = self.replicas.claim(call)
        sup = self.adopt(call, event_log, owner=owner, rules=rules)
        if new:
            self.alerts.inbox.call_added(call.id, call.status, call.type)
            self.observer.inbox_changed()
            event_log.append("call.status", {"status": call.status, "endedReason": call.ended_reason})
            if call.ended and announce_end:
                self._call_ended(sup)
        return sup

    def adopt(self, call: Call, event_log: EventLog, *, owner: bool, rules: AlertRules | None = None) -> SupervisedCall:
        """Hold ``call`` with its log; its owner runs its alert rules and polls its status (a mirror does not)."""
        sup = SupervisedCall(call=call, log=event_log)
        if owner:
            sup.alerts = self.alerts.watch(call.id, event_log, rules or self.alerts.rules_for(None))
        self._hold(sup)
        if owner:
            self._listening.watch(sup)
            if self.replicas is not None:
                self.replicas.share(sup)
        self.observer.calls_changed()
        return sup

    def _on_event(self, call_id: str, event: CallEvent) -> None:
        sup = self._calls.get(call_id) if event.type in ("call.status", "listen.closed", "call.report") else None
        if sup is not None and self.replicas is None:
            self.archive.save(sup)  # the status on disk; the final summary once the call is over
        self.observer.call_changed(call_id, EVENT_ASPECTS.get(event.type, ("events",)))

    def _update(self, sup: SupervisedCall, call: Call) -> None:
        """Store a fresh snapshot; log a call.status event when the status changed."""
        old_status = sup.call.status
        sup.call = call
        if self.replicas is not None:
            if not self.replicas.owns(sup.call_id):
                return  # its owner logs the change; this replica learns it from the shared log
            self.replicas.share(sup)
        if call.status != old_status:
            sup.log.append("call.status", {"status": call.status, "endedReason": call.ended_reason})
            self._listening.status_changed(sup)
            if call.ended:
                self._call_ended(sup)
                self._forget_old_calls()
                self.observer.calls_changed()

    def _call_ended(self, sup: SupervisedCall) -> None:
        """Tell the inbox, with the endedReason and the headline figures of the audio summary."""
        summary = sup.pipeline.summary() if sup.pipeline is not None else None
        fired = sup.alerts.fired if sup.alerts is not None else 0
        self.alerts.inbox.call_ended(sup.call_id, sup.call.ended_reason, summary, fired)
        self.observer.inbox_changed()

    def _audio_analysed(self, sup: SupervisedCall) -> None:
        if sup.alerts is not None and sup.pipeline is not None:
            self.alerts.audio_tick(sup.alerts, sup.pipeline)

    def _forget_old_calls(self) -> None:
        """Keep at most ``max_ended_calls`` ended calls in memory (journals and recordings stay on disk)."""
        ended = [sup for sup in self._calls.values() if sup.idle]
        for sup in ended[: max(0, len(ended) - self.settings.max_ended_calls)]:
            del self._calls[sup.call_id]
            if self.replicas is None:  # with replicas, Redis keeps it (supervised() finds it there again)
                self.archive.keep(sup)
            self.alerts.forget(sup.call_id)
            sup.log.close()
            log.debug("ended call %s left memory (it is read from the data dir from now on)", sup.call_id)

    def close(self) -> None:
        """Close every event log (the task group, cancelled by the owner, has closed the sockets)."""
        for sup in self._calls.values():
            if not sup.idle and self.replicas is None:  # an idle call's last snapshot is on disk already
                self.archive.save(sup)
            sup.log.close()
        self.alerts.inbox.close()

    @property
    def background_calls(self) -> int:
        """Calls with a status poller or listen session still running (diagnostics, tests)."""
        return self._listening.busy_calls

    def info(self, call_id: str) -> CallInfo:
        """The supervised call's state as this server knows it now (no request to Vapi)."""
        sup = self.supervised(call_id)
        return call_info(sup.call, sup)

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

    async def refresh(self, call_id: str) -> SupervisedCall:
        sup = self.supervised(call_id)
        if not sup.ended:
            self._update(sup, await self.client.get_call(call_id))
        return sup

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
    def _start_listening(self, sup: SupervisedCall) -> None:
        if not sup.has_listen_url:
            raise ControlUnavailable(f"call {sup.call_id!r} has no listen URL (monitorPlan.listenEnabled is off)")
        if self.replicas is not None and not self.replicas.owns(sup.call_id):
            self.replicas.request_listen(sup.call_id, True)  # its owner listens
            return
        self.listen_here(sup, True)

    def listen_here(self, sup: SupervisedCall, wanted: bool) -> None:
        """Start or stop this replica's listen session of a call it owns."""
        if wanted:
            self._listening.start(sup)
        else:
            self._listening.stop(sup)
            if sup.alerts is not None:
                sup.alerts.engine.listening_stopped()  # not a lost socket: listen_lost must not fire
        if self.replicas is None:
            self.archive.save(sup)  # a restart resumes listening only if it was wanted
        else:
            self.replicas.share(sup)

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

    def audio_summary(self, call_id: str) -> AudioSummary:
        sup = self.supervised(call_id)
        if sup.pipeline is None and sup.final_summary is not None:  # read back from the data dir
            return AudioSummary.model_validate({**sup.final_summary, "listen_state": sup.listen_state})
        if sup.pipeline is None:
            shared = self.replicas.summary(call_id, sup.listen_state) if self.replicas is not None else None
            return shared or AudioSummary.silent(call_id, sup.listen_state)
        measured = sup.pipeline.summary()
        return AudioSummary(**dict(measured), listen_state=sup.listen_state)

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

    # ------------------------------------------------------------------ replicas (DESIGN §13)
    def mirror_status(self, sup: SupervisedCall, status: object, ended_reason: object) -> None:
        """A call another replica owns changed status (learnt from its shared log)."""
        if not isinstance(status, str) or status == sup.call.status:
            return
        reason = ended_reason if isinstance(ended_reason, str) else None
        sup.call = sup.call.model_copy(update={"status": status, "ended_reason": reason})
        if sup.ended:
            if sup.listen_state not in ("off", "closed", "failed"):
                sup.listen_state = "closed"
            self._forget_old_calls()
            self.observer.calls_changed()

    def release_here(self, sup: SupervisedCall) -> None:
        """Another replica holds the call's lease now: stop polling, listening and alerting here. The call
        leaves memory; the next round (or the next request) adopts it again, as a mirror."""
        self._listening.release(sup)
        self.alerts.forget(sup.call_id)
        self._calls.pop(sup.call_id, None)

    def take_over(self, sup: SupervisedCall, call: Call, *, listen: bool, since: str | None) -> None:
        """This replica took the lease of a call whose owner died: poll it, and listen if that was wanted."""
        if not sup.ended:
            sup.call = call  # the owner's last snapshot (its control and listen URLs)
        self._listening.watch(sup)
        if sup.alerts is None:
            sup.alerts = self.alerts.watch(sup.call_id, sup.log, self.alerts.rules_for(None))
        if listen and sup.has_listen_url and not sup.ended:
            sup.log.append("listen.gap", {"reason": "takeover", "since": since})
            self.listen_here(sup, True)
