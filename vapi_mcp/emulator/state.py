"""The emulator's call store: one :class:`CallState` per call, as Vapi would hold it.

A call lives on *call time*: status delays and audio are divided by ``EmulatorOptions.time_scale``, and
:mod:`vapi_mcp.emulator.drive` moves it through time. This module holds what a call *is* (status, timestamps,
monitor switches, what was said, transferred, handed off) and how it is shown: :meth:`CallState.to_api` is the
Call object of ``GET /call/{id}``, :meth:`CallState.view` the emulator's own view for tests.

Nothing here knows about HTTP or WebSockets; the route modules move the bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vapi_mcp.emulator.audio import CallAudio
from vapi_mcp.emulator.listener import Listener
from vapi_mcp.emulator.monitor import MonitorSwitch, monitor_switch
from vapi_mcp.emulator.options import EmulatorOptions
from vapi_mcp.emulator.scenario import PARTIES, Party, Scenario

__all__ = ["CallState", "ControlRecord", "RequestRecord", "iso", "now_ms"]

_TRANSCRIPT_LABELS = {"bot": "AI", "user": "User"}


@dataclass(slots=True)
class ControlRecord:
    """One control POST as received. ``status`` is 0 until the emulator has answered."""

    body: Any
    status: int
    at: float


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request, with the path as a template so that no capability token is kept."""

    method: str
    path: str
    status: int


def now_ms() -> datetime:
    """Now, to the millisecond: Vapi stores and filters timestamps at that precision."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    """Vapi's timestamp form: ISO 8601, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _muted_none() -> dict[Party, bool]:
    return dict.fromkeys(PARTIES, False)


@dataclass(eq=False)
class CallState:
    """Everything the emulator knows about one call. ``token`` is the monitor capability: never shown."""

    id: str
    token: str = field(repr=False)
    options: EmulatorOptions = field(repr=False)
    request: dict[str, Any] = field(repr=False)  # the POST /call fields Vapi knows (unknown ones dropped)
    scenario: Scenario = field(repr=False)
    audio: CallAudio = field(repr=False)
    monitor_authority: str = field(repr=False)
    body: dict[str, Any] = field(default_factory=dict[str, Any], repr=False)  # the POST /call body as received
    created_at: datetime = field(default_factory=now_ms)
    status: str = "queued"
    statuses: list[str] = field(default_factory=lambda: ["queued"], repr=False)  # every status it went through
    ended_reason: str | None = None
    updated_at: datetime = field(default_factory=now_ms)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    destination: dict[str, Any] | None = None
    artifact_messages: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]], repr=False)
    control_log: list[ControlRecord] = field(default_factory=list[ControlRecord], repr=False)
    muted: dict[Party, bool] = field(default_factory=_muted_none)
    said: list[str] = field(default_factory=list[str])
    transfers: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]], repr=False)
    handoffs: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]], repr=False)
    context: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]], repr=False)
    transport_messages: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]], repr=False)
    current_assistant: str | None = None
    listeners: set[Listener] = field(default_factory=set[Listener], repr=False)
    dropped: bool = False
    pending_end: tuple[float, str] | None = field(default=None, repr=False)
    wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    unspoken: list[str] = field(default_factory=list[str], repr=False)  # said, its transcript not yet seen
    clock_start: float | None = field(default=None, repr=False)  # monotonic time of call second 0
    rendered: int = field(default=0, repr=False)  # listen frames rendered so far
    ended_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    type: str = "outboundPhoneCall"
    # Where server messages go (set by emulator.webhooks when the call has a Server URL): (call, message).
    on_message: Callable[[CallState, dict[str, Any]], None] | None = field(default=None, repr=False)

    def emit(self, message: dict[str, Any]) -> None:
        """A server message about this call (``type`` and its own fields; the sender adds the envelope)."""
        if self.on_message is not None:
            self.on_message(self, message)

    # --- monitorPlan, resolved where Vapi reads it (vapi_mcp.emulator.monitor) ------------------------------------

    def _monitor(self, name: MonitorSwitch) -> bool:
        return monitor_switch(self.request, name, saved_monitoring=self.options.saved_monitoring)

    @property
    def listen_enabled(self) -> bool:
        return self._monitor("listenEnabled")

    @property
    def control_enabled(self) -> bool:
        return self._monitor("controlEnabled")

    @property
    def listen_auth(self) -> bool:
        return self._monitor("listenAuthenticationEnabled")

    @property
    def control_auth(self) -> bool:
        return self._monitor("controlAuthenticationEnabled")

    @property
    def ended(self) -> bool:
        return self.status == "ended"

    @property
    def seconds_from_start(self) -> float:
        return round(self.audio.position_s, 3)

    # --- the audio clock (driven by vapi_mcp.emulator.drive) ----------------------------------------------------

    @property
    def frame_real_s(self) -> float:
        """Real seconds per listen frame, after the time scale."""
        return self.scenario.frame_ms / 1000 / self.options.time_scale

    def start_clock(self) -> None:
        self.clock_start = time.monotonic()

    def next_frame_at(self) -> float:
        """Monotonic time at which the next listen frame is complete: frame k at start + (k + 1) * frame."""
        assert self.clock_start is not None
        return self.clock_start + (self.rendered + 1) * self.frame_real_s

    # --- transitions and side effects -----------------------------------------------------------------------

    def touch(self) -> None:
        self.updated_at = now_ms()

    def set_status(self, status: str) -> None:
        self.status = status
        self.statuses.append(status)
        if status == "in-progress" and self.started_at is None:
            self.started_at = now_ms()
        self.touch()
        self.wake.set()
        self.emit({"type": "status-update", "status": status})

    def add_artifact_message(self, role: str, text: str) -> None:
        now = time.time()
        self.artifact_messages.append(
            {"role": role, "message": text, "time": int(now * 1000), "secondsFromStart": self.seconds_from_start}
        )
        self.touch()
        self.emit(
            {
                "type": "conversation-update",
                "messages": list(self.artifact_messages),
                "messagesOpenAIFormatted": [
                    {"role": "assistant" if m["role"] == "bot" else m["role"], "content": m["message"]}
                    for m in self.artifact_messages
                ],
            }
        )

    def record_transcript(self, frame: dict[str, Any]) -> None:
        """Final transcripts of the scripted conversation also land in ``artifact.messages``, like Vapi's.

        Said text is already there (from the control message), so its transcript is not added twice.
        """
        if frame.get("type") != "transcript" or frame.get("transcriptType") != "final":
            return
        text = str(frame.get("transcript", ""))
        if frame.get("role") == "assistant":
            for said in self.unspoken:
                if text in said:
                    self.unspoken.remove(said)
                    return
        self.add_artifact_message("bot" if frame.get("role") == "assistant" else "user", text)

    def say(self, text: str) -> float:
        """The assistant speaks ``text`` now; returns its duration in call seconds."""
        seconds = float(self.audio.say(text))
        self.said.append(text)
        self.unspoken.append(text)
        self.add_artifact_message("bot", text)
        return seconds

    def set_muted(self, party: Party, muted: bool) -> None:
        if muted:
            self.audio.mute(party)
        else:
            self.audio.unmute(party)
        self.muted[party] = muted
        self.touch()

    def end_at(self, position_s: float, reason: str) -> None:
        """End once the call's audio reaches ``position_s`` (call seconds); the earliest pending end wins."""
        if self.pending_end is None or position_s < self.pending_end[0]:
            self.pending_end = (position_s, reason)
        self.wake.set()

    def forward(self, destination: dict[str, Any] | None, *, at_s: float) -> None:
        """Transfer: ``forwarding`` now, ended with ``assistant-forwarded-call`` at call time ``at_s``."""
        self.destination = destination
        self.transfers.append({"destination": destination, "at_s": self.seconds_from_start})
        self.emit({"type": "transfer-update", "destination": destination or {}})
        self.set_status("forwarding")
        self.end_at(at_s, "assistant-forwarded-call")

    def end(self, reason: str) -> None:
        """End the call: status, timestamps, cost, and every listen socket closes with 1000."""
        if self.ended:
            return
        now = now_ms()
        self.status = "ended"
        self.statuses.append("ended")
        self.ended_reason = reason
        self.ended_at = now
        self.updated_at = now
        self.audio.end()
        for listener in list(self.listeners):
            listener.close(1000, "call ended")
        self.ended_event.set()
        self.wake.set()
        self.emit({"type": "status-update", "status": "ended", "endedReason": reason})
        self.emit(self.end_of_call_report())

    # --- views -------------------------------------------------------------------------------------------------

    def _transcript(self) -> str:
        labels = _TRANSCRIPT_LABELS
        return "\n".join(f"{labels[m['role']]}: {m['message']}" for m in self.artifact_messages if m["role"] in labels)

    def to_api(self) -> dict[str, Any]:
        """The Call object as ``GET /call/{id}`` returns it (camelCase, Vapi's field names)."""
        call: dict[str, Any] = {
            "id": self.id,
            "orgId": self.options.org_id,
            "type": self.type,
            "status": self.status,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            **self.request,
            "phoneCallProvider": "vapi",
            "phoneCallTransport": "pstn",
            "cost": 0,
            "messages": [],
            "artifact": {"messages": list(self.artifact_messages), "transcript": self._transcript()},
        }
        monitor: dict[str, str] = {}
        if self.listen_enabled:
            monitor["listenUrl"] = f"ws://{self.monitor_authority}/{self.token}/{self.id}/listen"
        if self.control_enabled:
            monitor["controlUrl"] = f"http://{self.monitor_authority}/{self.token}/{self.id}/control"
        if monitor:
            call["monitor"] = monitor
        if self.started_at is not None:
            call["startedAt"] = iso(self.started_at)
        if self.destination is not None:
            call["destination"] = self.destination
        if self.ended:
            assert self.ended_at is not None
            call["endedAt"] = iso(self.ended_at)
            call["endedReason"] = self.ended_reason
            call["cost"] = round(self.audio.position_s / 60 * 0.1, 4)
            call["analysis"] = {"summary": ""}
        return call

    def end_of_call_report(self) -> dict[str, Any]:
        """The ``end-of-call-report`` message (its own fields) of an ended call."""
        api = self.to_api()
        started = api.get("startedAt")
        report: dict[str, Any] = {
            "type": "end-of-call-report",
            "endedReason": self.ended_reason,
            "cost": api["cost"],
            "costs": [
                {
                    "type": "vapi",
                    "subType": "normal",
                    "minutes": round(self.audio.position_s / 60, 4),
                    "cost": api["cost"],
                }
            ],
            "analysis": {
                "summary": f"Emulated call of {round(self.audio.position_s, 1)} s.",
                "successEvaluation": "true",
            },
            "artifact": {
                "messages": list(self.artifact_messages),
                "transcript": self._transcript(),
                "recordingUrl": f"https://storage.vapi.ai/{self.id}-mono.wav",
                "stereoRecordingUrl": f"https://storage.vapi.ai/{self.id}-stereo.wav",
            },
            "endedAt": api["endedAt"],
        }
        if started is not None:
            report["startedAt"] = started
        return report

    def view(self) -> dict[str, Any]:
        """The emulator's own view for tests and the demo. No token, URL or key in here."""
        return {
            "id": self.id,
            "status": self.status,
            "statuses": list(self.statuses),
            "endedReason": self.ended_reason,
            "scenario": self.scenario.name,
            "position_s": round(self.audio.position_s, 3),
            "muted": dict(self.muted),
            "listeners": len(self.listeners),
            "said": list(self.said),
            "destination": self.destination,
            "transfers": list(self.transfers),
            "handoffs": list(self.handoffs),
            "assistant": self.current_assistant,
            "context": list(self.context),
            "transport_messages": list(self.transport_messages),
            "artifact_messages": len(self.artifact_messages),
            "control_messages": len(self.control_log),
            "dropped": self.dropped,
        }
