"""What tools return and resources show: pydantic models, so every tool has an output schema.

None of these carries a monitor URL or a key; ``CallInfo.from_call`` is the only path from a
Vapi ``Call`` to something an agent sees, and it copies named fields only.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from vapi_mcp.listen.analysis import AudioSummary as CallAudioSummary

__all__ = [
    "AlertRulesView",
    "AudioSummary",
    "CallInfo",
    "CallList",
    "CallResources",
    "ControlResult",
    "EventView",
    "EventsPage",
    "ListenResult",
    "ListenState",
    "WaitResult",
    "resource_uris",
]

ListenState = Literal["off", "waiting", "connecting", "connected", "reconnecting", "closed", "failed"]


class CallResources(BaseModel):
    """MCP resource URIs for one call (read them, or subscribe for live updates)."""

    call: str
    events: str
    audio_summary: str
    transcript: str
    recording: str


def resource_uris(call_id: str) -> CallResources:
    base = f"vapi://calls/{call_id}"
    return CallResources(
        call=base,
        events=f"{base}/events",
        audio_summary=f"{base}/audio-summary",
        transcript=f"{base}/transcript",
        recording=f"{base}/recording.wav",
    )


class CallInfo(BaseModel):
    call_id: str
    status: str = Field(description="queued, ringing, in-progress, forwarding, ended, …")
    ended_reason: str | None = None
    type: str | None = None
    customer_number: str | None = None
    customer_name: str | None = None
    assistant_id: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    supervised: bool = Field(description="This server tracks the call (events are logged).")
    listening: bool = Field(description="A background listen session is open or being (re)opened.")
    listen_state: ListenState = "off"
    control_available: bool = Field(description="Vapi gave this call a control channel (monitorPlan).")
    listen_available: bool = Field(description="Vapi gave this call a listen channel (monitorPlan).")
    event_count: int = 0
    resources: CallResources | None = None


class CallList(BaseModel):
    calls: list[CallInfo]


class ControlResult(BaseModel):
    call_id: str
    type: str = Field(description="The Vapi control message type that was sent.")
    sent: bool = True
    detail: str
    event_seq: int | None = Field(default=None, description="seq of the control.sent event in the call's log.")


class ListenResult(BaseModel):
    call_id: str
    listening: bool
    listen_state: ListenState
    detail: str


class EventView(BaseModel):
    seq: int
    at: str
    type: str
    data: dict[str, Any]


class EventsPage(BaseModel):
    call_id: str | None
    events: list[EventView]
    next_seq: int = Field(description="Pass as after_seq to get what comes next.")
    latest_seq: int = 0
    dropped_before: int | None = Field(default=None, description="Events up to this seq are no longer available.")


class WaitResult(BaseModel):
    call_id: str | None
    matched: bool = Field(description="True if a matching event arrived before the timeout.")
    events: list[EventView]
    next_seq: int
    waited_s: float
    call_status: str | None = None


class AlertRulesView(BaseModel):
    call_id: str | None = Field(description="The call these rules apply to; null: the defaults for new calls.")
    rules: dict[str, Any] = Field(description="Each rule's parameters, or false when it is off.")


class AudioSummary(CallAudioSummary):
    """DESIGN §7: the live audio summary of one call, as the listen pipeline measured it, plus its listen state."""

    listen_state: ListenState = "off"

    @classmethod
    def silent(cls, call_id: str, listen_state: ListenState) -> AudioSummary:
        """The summary of a call nobody has listened to yet: nothing heard, nothing measured."""
        return cls(
            call_id=call_id,
            listen_state=listen_state,
            sample_rate=16000,
            channels=2,
            duration_s=0.0,
            parties={},
            overlap_s=0.0,
            longest_silence_s=0.0,
            current_silence_s=0.0,
            interruptions=0,
            segments=[],
            sparkline={},
            gaps_s=0.0,
            finished=False,
        )
