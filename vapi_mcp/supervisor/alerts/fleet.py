"""Alerts across the fleet: one :class:`AlertEngine` per supervised call, the inbox, and the wall-clock tick.

The supervisor hands each call here when it starts supervising it (:meth:`FleetAlerts.watch`). From then on
the call's events reach its engine through the log's listener, every analysed block of its audio through
:meth:`FleetAlerts.audio_tick`, and a task in the supervisor's task group ticks every live engine about twice
a second. An alert is appended to the call's log as an ``alert`` event, then copied to the inbox with the
call's id and that event's seq.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc

from vapi_mcp.errors import InvalidInput
from vapi_mcp.listen.events import CallEvent, EventLog
from vapi_mcp.listen.pipeline import AudioPipeline
from vapi_mcp.settings import ConfigError, Settings
from vapi_mcp.supervisor.alerts.config import AlertRules, RuleParams, default_rules, merge_rules
from vapi_mcp.supervisor.alerts.engine import Alert, AlertEngine
from vapi_mcp.supervisor.alerts.inbox import Inbox

__all__ = ["CallAlerts", "FleetAlerts", "alert_defaults"]

log = logging.getLogger(__name__)


def alert_defaults(settings: Settings) -> dict[str, RuleParams | None]:
    """The built-in rules with ``VAPI_MCP_ALERT_RULES`` applied; a bad rule is a :class:`ConfigError`."""
    try:
        return merge_rules(default_rules(), settings.alert_rules)
    except InvalidInput as exc:
        raise ConfigError(f"VAPI_MCP_ALERT_RULES: {exc}") from None


_UNTIMED = frozenset({"transcript", "listen.reconnecting", "listen.closed", "call.status"})
"""Events that carry no call time of their own: the engine's clock is set from the stream first."""


def _received_s(pipeline: AudioPipeline) -> float:
    """Call time of the audio received so far: analysed, plus what waits in the block buffer."""
    fmt = pipeline.format
    return pipeline.analyzer.duration_s + pipeline.buffer.pending_bytes / (fmt.bytes_per_frame * fmt.sample_rate)


@dataclass
class CallAlerts:
    """One call's engine and the log its alerts go to."""

    call_id: str
    engine: AlertEngine
    log: EventLog
    fired: int = 0
    pipeline: AudioPipeline | None = None

    def deliver(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self.fired += 1
            self.log.append("alert", alert.data())


class FleetAlerts:
    """The engines of every supervised call, their default rules, and the fleet inbox."""

    def __init__(
        self,
        defaults: AlertRules,
        inbox: Inbox,
        tasks: anyio.abc.TaskGroup,
        *,
        on_inbox: Callable[[], None],
        tick_s: float = 0.5,
    ) -> None:
        self.defaults: dict[str, RuleParams | None] = dict(defaults)
        self.inbox = inbox
        self._tasks = tasks
        self._on_inbox = on_inbox
        self._tick_s = tick_s
        self._live: dict[str, CallAlerts] = {}  # calls not ended yet: the wall tick's round
        self._ticking = False

    merge = staticmethod(merge_rules)

    def rules_for(self, change: Mapping[str, Any] | None) -> dict[str, RuleParams | None]:
        """The defaults with a per-call ``change`` applied (raises InvalidInput naming a bad rule)."""
        return merge_rules(self.defaults, change)

    def set_defaults(self, change: Mapping[str, Any]) -> dict[str, RuleParams | None]:
        """Change the rules of calls supervised from now on."""
        self.defaults = merge_rules(self.defaults, change)
        return self.defaults

    def watch(self, call_id: str, event_log: EventLog, rules: AlertRules) -> CallAlerts:
        """Run the rules over this call from now on (its log's listener feeds the engine)."""
        alerts = CallAlerts(call_id, AlertEngine(rules), event_log)
        event_log.add_listener(lambda event: self._on_event(alerts, event))
        self._live[call_id] = alerts
        if not self._ticking:
            self._ticking = True
            self._tasks.start_soon(self._tick)
        return alerts

    def _on_event(self, alerts: CallAlerts, event: CallEvent) -> None:
        if event.type == "alert":
            self.inbox.alert(alerts.call_id, event.seq, event.data)
            self._on_inbox()
            return
        if event.type in _UNTIMED and alerts.pipeline is not None:
            alerts.engine.sync(_received_s(alerts.pipeline))
        alerts.deliver(alerts.engine.on_event(event))
        if alerts.engine.ended:
            self._live.pop(alerts.call_id, None)

    def audio_tick(self, alerts: CallAlerts, pipeline: AudioPipeline) -> None:
        """A block of the call's audio was analysed."""
        alerts.pipeline = pipeline
        analyzer = pipeline.analyzer
        alerts.deliver(alerts.engine.on_audio(analyzer.duration_s, analyzer.silence_since_s, pipeline.summary))

    def forget(self, call_id: str) -> None:
        self._live.pop(call_id, None)

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(self._tick_s)
            for alerts in list(self._live.values()):
                try:
                    alerts.deliver(alerts.engine.on_wall())
                except Exception:  # one call's bug must not stop every other call's alerts
                    log.exception("alert rules failed on call %s", alerts.call_id)
