"""What the supervisor knows about one call, and the only path from a Vapi ``Call`` to a view.

``call_info`` copies named fields only, so a monitor URL or a key can never reach an agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.pipeline import AudioPipeline
from vapi_mcp.supervisor.alerts.fleet import CallAlerts
from vapi_mcp.supervisor.gate import TranscriptGate
from vapi_mcp.supervisor.transcript import TranscriptCache
from vapi_mcp.supervisor.views import AudioSummary, CallInfo, ListenState, resource_uris
from vapi_mcp.vapi import Call

__all__ = ["LISTENABLE", "SupervisedCall", "call_info"]

LISTENABLE = frozenset({"in-progress", "forwarding"})
"""Vapi statuses in which the listen socket streams audio."""

_DONE_LISTENING: frozenset[ListenState] = frozenset({"off", "closed", "failed"})


@dataclass
class SupervisedCall:
    """One supervised call: the latest Vapi snapshot, its event log, and its listening."""

    call: Call
    log: EventLog
    listen_state: ListenState = "off"
    listen_wanted: bool = False
    pipeline: AudioPipeline | None = None
    transcript: TranscriptCache = field(default_factory=TranscriptCache)
    final_summary: dict[str, Any] | None = None
    """The audio summary saved when the call ended (a call read back from disk has no pipeline)."""
    alerts: CallAlerts | None = None
    report: dict[str, Any] | None = None
    """Vapi's end-of-call report (scrubbed), once a webhook brought it; kept in the call's snapshot."""
    conversation: list[dict[str, Any]] | None = None
    """Vapi's latest conversation (scrubbed), once a webhook brought it; kept in the call's snapshot."""
    # What else webhooks brought (DESIGN §12): when a status last came that way (monotonic), and the latest
    # status message's timestamp (ordering).
    webhook_status_at: float | None = None
    webhook_status_stamp: float | None = None
    polled_at: float = 0.0  # when the status poller last read this call (monotonic)
    gate: TranscriptGate = field(default_factory=TranscriptGate)

    @property
    def call_id(self) -> str:
        return self.call.id

    @property
    def ended(self) -> bool:
        return self.call.ended

    @property
    def listening(self) -> bool:
        """A listen session is wanted and open, or being (re)opened."""
        return self.listen_wanted and self.listen_state not in _DONE_LISTENING

    @property
    def idle(self) -> bool:
        """Ended, and no listen session is still finishing: safe to forget."""
        return self.ended and self.listen_state in _DONE_LISTENING

    def summary_here(self) -> AudioSummary | None:
        """The audio summary this process holds: measured by its pipeline, or saved when the call ended
        (None: this process never heard the call; with replicas its owner did)."""
        if self.pipeline is not None:
            return AudioSummary(**dict(self.pipeline.summary()), listen_state=self.listen_state)
        if self.final_summary is not None:
            return AudioSummary.model_validate({**self.final_summary, "listen_state": self.listen_state})
        return None

    @property
    def has_listen_url(self) -> bool:
        return bool(self.call.monitor and self.call.monitor.listen_url)


def call_info(call: Call, sup: SupervisedCall | None) -> CallInfo:
    """The agent's view of ``call`` (``sup`` is None for a call this server does not supervise)."""
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
        listening=sup is not None and sup.listening,
        listen_state=sup.listen_state if sup else "off",
        control_available=call.control_available,
        listen_available=call.listen_available,
        event_count=sup.log.latest_seq if sup else 0,
        resources=resource_uris(call.id) if sup else None,
    )
