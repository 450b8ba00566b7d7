"""Listening: the supervisor's background work, in the task group it is given.

Every supervised call is watched by the fleet's status poller (:mod:`~vapi_mcp.supervisor.polling`:
one request per interval for all of them) until it ends, and, when listening is wanted, has a
ListenSession. The session opens as soon as the call has a listen URL, before it is known to be in
progress, so that the socket is open when the call's audio begins: call time 0 of the stream is then
the call's own, and what the first seconds hold is heard however late the poll learns "in-progress".
Should the socket not serve a call that is not live yet, the session gives way and opens again once
the call is in progress. ``start``/``stop`` return at once; the work happens in the task group.
Shutdown cancels the group: sockets close, recordings and journals are flushed.

``listen/`` is handed callbacks (state changes, "is the call over?", "audio arrived") and never
sees the supervisor; this module is the only place where the two meet.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.abc

from vapi_mcp.errors import ControlUnavailable, VapiError
from vapi_mcp.listen.pipeline import AudioPipeline
from vapi_mcp.listen.session import ListenSession, SessionState
from vapi_mcp.settings import Settings
from vapi_mcp.supervisor.calls import LISTENABLE, SupervisedCall
from vapi_mcp.supervisor.observer import CallObserver
from vapi_mcp.supervisor.views import ListenState

__all__ = ["Listening"]

log = logging.getLogger(__name__)

Refresh = Callable[[str], Awaitable[object]]
"""Fetch a call's latest snapshot from Vapi and record it (the supervisor's ``refresh``)."""


@dataclass
class _CallTasks:
    watched: bool = False  # the status poller reads it until it ends
    listener: anyio.CancelScope | None = None
    status_changed: anyio.Event = field(default_factory=anyio.Event)


class Listening:
    """Status pollers and listen sessions of every supervised call."""

    def __init__(
        self,
        settings: Settings,
        tasks: anyio.abc.TaskGroup,
        *,
        refresh: Refresh,
        observer: CallObserver,
        recording_path: Callable[[str], Path],
        wake_poller: Callable[[], None],
        on_audio: Callable[[SupervisedCall], None] | None = None,
        on_idle: Callable[[SupervisedCall], None] | None = None,
    ) -> None:
        self.settings = settings
        self._wake_poller = wake_poller
        self.tasks = tasks
        self._refresh = refresh
        self._observer = observer
        self._recording_path = recording_path
        self._on_audio = on_audio
        self._on_idle = on_idle
        self._calls: dict[str, _CallTasks] = {}

    @property
    def busy_calls(self) -> int:
        """Calls still watched by the poller or with a listen session running (0 once every call has finished)."""
        return len(self._calls)

    # ------------------------------------------------------------------ public, return at once
    def watch(self, sup: SupervisedCall) -> None:
        """Have the status poller read this call until it ends (idempotent)."""
        tasks = self._calls.setdefault(sup.call_id, _CallTasks())
        if not sup.ended:
            tasks.watched = True
            self._wake_poller()

    def unwatch(self, sup: SupervisedCall) -> None:
        """The call ended or vanished: the poller is done with it."""
        tasks = self._calls.get(sup.call_id)
        if tasks is not None:
            tasks.watched = False
            self._tidy(sup.call_id, tasks)

    def start(self, sup: SupervisedCall) -> None:
        if sup.ended:
            return
        if not (sup.call.monitor and sup.call.monitor.listen_url):
            raise ControlUnavailable(f"call {sup.call_id!r} has no listen URL (monitorPlan.listenEnabled is off)")
        sup.listen_wanted = True
        tasks = self._calls.setdefault(sup.call_id, _CallTasks())
        self.watch(sup)
        if tasks.listener is None:
            tasks.listener = anyio.CancelScope()
            self._set_state(sup, "waiting" if sup.call.status not in LISTENABLE else "connecting")
            self.tasks.start_soon(self._listen, sup, tasks.listener)

    def stop(self, sup: SupervisedCall) -> None:
        sup.listen_wanted = False
        tasks = self._calls.get(sup.call_id)
        if tasks and tasks.listener is not None:
            tasks.listener.cancel()

    def release(self, sup: SupervisedCall) -> None:
        """Stop this call's poller and listen session here: another replica has taken the call over."""
        tasks = self._calls.get(sup.call_id)
        if tasks is not None:
            if tasks.listener is not None:
                tasks.listener.cancel()
            self.unwatch(sup)

    # ------------------------------------------------------------------ background work
    def status_changed(self, sup: SupervisedCall) -> None:
        """Wake the call's waiting listener (one whose early socket gave way opens again once the call is live)."""
        tasks = self._calls.get(sup.call_id)
        if tasks is not None:
            tasks.status_changed.set()
            tasks.status_changed = anyio.Event()
            if sup.ended:
                self.unwatch(sup)

    def _set_state(self, sup: SupervisedCall, state: ListenState) -> None:
        sup.listen_state = state
        self._observer.call_changed(sup.call_id, ("call",))

    def _tidy(self, call_id: str, tasks: _CallTasks) -> None:
        if not tasks.watched and tasks.listener is None:
            self._calls.pop(call_id, None)

    async def _listen(self, sup: SupervisedCall, scope: anyio.CancelScope) -> None:
        tasks = self._calls[sup.call_id]
        try:
            with scope:
                early = True  # one early session (see the module docstring), then one once the call is live
                while not sup.ended:
                    live = sup.call.status in LISTENABLE
                    if live or early:
                        if await self._run_session(sup, early=not live):
                            break
                        early = False  # the socket did not serve the call before it was live
                        self._set_state(sup, "waiting")
                    else:
                        await tasks.status_changed.wait()
                else:
                    self._set_state(sup, "closed")
        finally:
            tasks.listener = None
            self._tidy(sup.call_id, tasks)
        # A session that ended by itself already said closed/failed; a stop_listening says off.
        if not sup.listen_wanted and sup.listen_state != "failed":
            self._set_state(sup, "closed" if sup.ended else "off")
        if sup.idle and self._on_idle is not None:  # its listening outlived its status poll: forgettable now
            self._on_idle(sup)

    def _audio_analysed(self, sup: SupervisedCall) -> None:
        self._observer.call_changed(sup.call_id, ("audio-summary", "recording"))
        if self._on_audio is not None:
            self._on_audio(sup)

    def _on_session_state(self, sup: SupervisedCall, state: SessionState) -> None:
        self._set_state(sup, state)

    def new_pipeline(self, sup: SupervisedCall) -> AudioPipeline:
        """An audio pipeline for the call (not yet its ``sup.pipeline``: a restart primes it first)."""
        recording = self._recording_path(sup.call_id) if self.settings.record else None
        return AudioPipeline(
            sup.call_id,
            sup.log,
            recording_path=recording,
            silence_threshold_s=self.settings.silence_threshold_s,
            on_audio=functools.partial(self._audio_analysed, sup),
            accept_transcript=sup.gate.accept_listen,
        )

    async def _run_session(self, sup: SupervisedCall, *, early: bool) -> bool:
        """One listen session; False when an early one gave way (the call was not live yet)."""
        assert sup.call.monitor is not None and sup.call.monitor.listen_url is not None
        if sup.pipeline is None:
            sup.pipeline = self.new_pipeline(sup)

        async def call_is_over() -> bool:
            try:
                await self._refresh(sup.call_id)
            except VapiError:
                return False
            return sup.ended

        session = ListenSession(
            sup.call_id,
            sup.call.monitor.listen_url.get_secret_value(),
            sup.pipeline,
            sup.log,
            public_key=self.settings.public_key.get_secret_value() if self.settings.public_key else None,
            call_is_over=call_is_over,
            on_state=functools.partial(self._on_session_state, sup),
            early=early,
        )
        await session.run()
        if session.gave_way:
            return False
        if session.closed_reason == "call ended":
            # The socket closed because the call ended: learn endedReason now, not at the next poll.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await call_is_over()
        return True
