"""CallRegistry: the calls a supervisor holds, and the parts it wires together to keep them current.

It builds the background work (status polls, listen sessions; ``polling``, ``listening``), the alert rules and
the fleet inbox (``alerts``), the calls on disk (``archive``), restart recovery (``recovery``), the webhook
intake (``webhooks``) and, with replicas, this server's share of the fleet in Redis (``replicas``), and hands
each the callbacks it needs. Those modules call back in here, never into the operations the face asks for,
which :class:`~vapi_mcp.supervisor.core.CallSupervisor` adds on top.

Wherever a call comes from (a tool, a webhook, the restart recovery, another replica) it is held through
:meth:`~CallRegistry._register` or :meth:`~CallRegistry.adopt`; every fresh snapshot goes through
:meth:`~CallRegistry._update`, which logs ``call.status`` and announces the end in the inbox.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio.abc

from vapi_mcp.errors import CallNotFound, ControlUnavailable, VapiMcpError
from vapi_mcp.listen.events import CallEvent, EventLog
from vapi_mcp.settings import Settings
from vapi_mcp.store.local import LocalStore
from vapi_mcp.supervisor.alerts.config import AlertRules
from vapi_mcp.supervisor.alerts.fleet import FleetAlerts, alert_defaults
from vapi_mcp.supervisor.alerts.inbox import Inbox
from vapi_mcp.supervisor.archive import CallArchive
from vapi_mcp.supervisor.calls import SupervisedCall, call_info
from vapi_mcp.supervisor.listening import Listening
from vapi_mcp.supervisor.observer import EVENT_ASPECTS, CallObserver, NullObserver
from vapi_mcp.supervisor.polling import StatusPoller
from vapi_mcp.supervisor.recovery import Recovery, RecoveryReport, prune_inbox
from vapi_mcp.supervisor.replicas import Replicas
from vapi_mcp.supervisor.views import CallInfo
from vapi_mcp.supervisor.webhooks import WebhookIntake
from vapi_mcp.vapi import Call, VapiClient

__all__ = ["CallRegistry"]

log = logging.getLogger(__name__)


class CallRegistry:
    """Holds the supervised calls (memory, then disk or Redis) and keeps their snapshots, logs and inbox current."""

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
        inbox_pruned = prune_inbox(settings, store) if replicas is None else 0
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
        self.recovery.report.inbox_pruned = inbox_pruned
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
        self.observer.call_changed(call_id, EVENT_ASPECTS.get(event.type, ("events",)), from_log=True)

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

    async def refresh(self, call_id: str) -> SupervisedCall:
        sup = self.supervised(call_id)
        if not sup.ended:
            self._update(sup, await self.client.get_call(call_id))
        return sup

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

    # ------------------------------------------------------------------ replicas (DESIGN §13): what replicas.py calls
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
