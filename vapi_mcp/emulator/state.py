"""The emulator's call store: one :class:`CallState` per call, and the task that drives it through time.

A call lives on *call time*: status delays (``ring_s``, ``answer_s``) and audio are divided by
``EmulatorOptions.time_scale``. From ``in-progress`` on, one producer task per call (:func:`drive_call`) advances
the call's :class:`~vapi_mcp.emulator.audio.CallAudio` against the monotonic clock whether or not anyone listens
(the conversation goes on without an audience, exactly like a live call) and fans each 20 ms frame out to the
connected :class:`Listener` queues. A listener that connects late hears the call from *now*.

Nothing here knows about HTTP or WebSockets; ``app.py`` moves the bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from vapi_mcp.emulator.audio import CallAudio
from vapi_mcp.emulator.scenario import Scenario, get_scenario, long_call

__all__ = [
    "ABORT",
    "CallState",
    "Close",
    "ControlRecord",
    "EmulatorOptions",
    "FaultRule",
    "Listener",
    "RequestRecord",
    "drive_call",
    "iso",
    "resolve_scenario",
]

IDLE_TICK_S = 0.1  # real seconds between audio renders while nobody listens (a new listener wakes it at once)
PARTIES = ("customer", "assistant")


class EmulatorOptions(BaseModel):
    """How the emulator behaves. ``api_key`` is the only private key it accepts (never shown in repr)."""

    model_config = ConfigDict(frozen=True)

    api_key: str = Field(min_length=1, repr=False)
    public_key: str | None = Field(default=None, repr=False)
    scenario: str = "support-call"
    time_scale: float = Field(default=1.0, gt=0)
    ring_s: float = Field(default=0.3, ge=0)
    answer_s: float = Field(default=0.5, ge=0)
    control_not_found_status: int = Field(default=404, ge=400, le=599)
    end_call_reason: str = "manually-canceled"
    monitor_host: str | None = None
    org_id: str = "8c4c2f2e-0000-4000-8000-00000000e0e0"
    # When set, these override the scenario's own knob for every call.
    format_frame: bool | None = None
    odd_sizes: bool | None = None
    drop_socket_at_s: float | None = None
    end_when_done: bool | None = None


class FaultRule(BaseModel):
    """A scripted fault for the REST or control surface; consumed in order, ``times`` requests each."""

    route: Literal["create", "get", "list", "control"]
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    delay_s: float = Field(default=0.0, ge=0)
    times: int = Field(default=1, ge=1)
    call_id: str | None = None


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


class Close(NamedTuple):
    code: int
    reason: str = ""


ABORT: Any = object()  # listener queue sentinel: drop the TCP connection without a close frame


def now_ms() -> datetime:
    """Now, to the millisecond: Vapi stores and filters timestamps at that precision."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    """Vapi's timestamp form: ISO 8601, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def resolve_scenario(name: str, options: EmulatorOptions) -> Scenario:
    """Scenario by name (``long:<seconds>`` builds a long call), with the options' overrides applied."""
    if name.startswith("long:"):
        try:
            seconds = float(name.removeprefix("long:"))
        except ValueError:
            raise ValueError(f"bad long-call duration in {name!r}") from None
        scenario = long_call(seconds)
    else:
        scenario = get_scenario(name)
    knobs = ("format_frame", "odd_sizes", "drop_socket_at_s", "end_when_done")
    update = {knob: getattr(options, knob) for knob in knobs if getattr(options, knob) is not None}
    return scenario.model_copy(update=update) if update else scenario


class Listener:
    """One listen socket's outbox. The producer pushes; the socket handler drains.

    With ``chunk_sizes`` (the scenario's ``odd_sizes``) audio is re-cut per listener so that message
    boundaries are not sample boundaries, while every listener's stream still starts on a frame boundary.
    """

    def __init__(self, chunk_sizes: Iterator[int] | None = None, *, max_backlog: int = 2000) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._chunks = chunk_sizes
        self._pending = bytearray()
        self._next_size: int | None = None
        self._max_backlog = max_backlog
        self.finished = False

    def push_audio(self, frame: bytes) -> None:
        if self.finished:
            return
        if self._chunks is None:
            self._put(frame)
            return
        self._pending += frame
        while True:
            if self._next_size is None:
                self._next_size = max(1, next(self._chunks, len(frame)))
            if len(self._pending) < self._next_size:
                return
            self._put(bytes(self._pending[: self._next_size]))
            del self._pending[: self._next_size]
            self._next_size = None

    def push_text(self, frame: dict[str, Any]) -> None:
        if not self.finished:
            self._put(frame)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.finished:
            return
        if self._pending:
            self._put(bytes(self._pending))
            self._pending.clear()
        self._queue.put_nowait(Close(code, reason))
        self.finished = True

    def abort(self) -> None:
        if not self.finished:
            self._queue.put_nowait(ABORT)
            self.finished = True

    def _put(self, item: Any) -> None:
        if self._queue.qsize() >= self._max_backlog:
            # A listener this far behind would make the call's memory grow without bound: cut it off.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(Close(1011, "listener too slow"))
            self.finished = True
            return
        self._queue.put_nowait(item)

    async def get(self) -> Any:
        return await self._queue.get()


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
    body: dict[str, Any] = field(default_factory=dict, repr=False)  # the POST /call body exactly as received
    created_at: datetime = field(default_factory=now_ms)
    status: str = "queued"
    ended_reason: str | None = None
    updated_at: datetime = field(default_factory=now_ms)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    destination: dict[str, Any] | None = None
    artifact_messages: list[dict[str, Any]] = field(default_factory=list, repr=False)
    control_log: list[ControlRecord] = field(default_factory=list, repr=False)
    muted: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(PARTIES, False))
    said: list[str] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list, repr=False)
    handoffs: list[dict[str, Any]] = field(default_factory=list, repr=False)
    context: list[dict[str, Any]] = field(default_factory=list, repr=False)
    transport_messages: list[dict[str, Any]] = field(default_factory=list, repr=False)
    current_assistant: str | None = None
    listeners: set[Listener] = field(default_factory=set, repr=False)
    dropped: bool = False
    pending_end: tuple[float, str] | None = field(default=None, repr=False)
    wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _unspoken: list[str] = field(default_factory=list, repr=False)  # said, transcript not yet seen
    _clock_start: float | None = field(default=None, repr=False)  # monotonic time of call second 0
    _rendered: int = field(default=0, repr=False)  # listen frames rendered so far
    ended_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    # --- monitorPlan (assistantOverrides wins over the assistant; absent means enabled, per current spec) ---

    def _monitor_flag(self, name: str, default: bool) -> bool:
        for source in (self.request.get("assistantOverrides"), self.request.get("assistant")):
            plan = source.get("monitorPlan") if isinstance(source, dict) else None
            if isinstance(plan, dict) and isinstance(plan.get(name), bool):
                return bool(plan[name])
        return default

    @property
    def listen_enabled(self) -> bool:
        return self._monitor_flag("listenEnabled", True)

    @property
    def control_enabled(self) -> bool:
        return self._monitor_flag("controlEnabled", True)

    @property
    def listen_auth(self) -> bool:
        return self._monitor_flag("listenAuthenticationEnabled", False)

    @property
    def control_auth(self) -> bool:
        return self._monitor_flag("controlAuthenticationEnabled", False)

    @property
    def ended(self) -> bool:
        return self.status == "ended"

    @property
    def seconds_from_start(self) -> float:
        return round(self.audio.position_s, 3)

    # --- the audio clock ------------------------------------------------------------------------------------

    @property
    def _frame_real_s(self) -> float:
        return self.scenario.frame_ms / 1000 / self.options.time_scale

    def start_clock(self) -> None:
        self._clock_start = time.monotonic()

    def next_frame_at(self) -> float:
        """Monotonic time at which the next listen frame is complete: frame k at start + (k + 1) * frame."""
        assert self._clock_start is not None
        return self._clock_start + (self._rendered + 1) * self._frame_real_s

    def advance(self) -> None:
        """Render and fan out every frame due by now, so that the audio is a function of call time.

        The producer calls this on its schedule (never drifting: due frames are computed from the start time,
        and a late wake-up sends all that is due). A control message calls it first, so that its side effect
        lands at the right moment even while the producer idles because nobody listens.
        """
        if self._clock_start is None or self.ended:
            return
        due = int((time.monotonic() - self._clock_start) / self._frame_real_s)
        if due <= self._rendered:
            return
        samples = self.scenario.frame_samples
        _fan_out(self, self.audio.render((due - self._rendered) * samples), samples * self.scenario.channels * 2)
        self._rendered = due
        _after_audio(self)

    # --- transitions and side effects -----------------------------------------------------------------------

    def touch(self) -> None:
        self.updated_at = now_ms()

    def set_status(self, status: str) -> None:
        self.status = status
        if status == "in-progress" and self.started_at is None:
            self.started_at = now_ms()
        self.touch()
        self.wake.set()

    def add_artifact_message(self, role: str, text: str) -> None:
        now = time.time()
        self.artifact_messages.append(
            {"role": role, "message": text, "time": int(now * 1000), "secondsFromStart": self.seconds_from_start}
        )
        self.touch()

    def say(self, text: str) -> float:
        """The assistant speaks ``text`` now; returns its duration in call seconds."""
        seconds = float(self.audio.say(text))
        self.said.append(text)
        self._unspoken.append(text)
        self.add_artifact_message("bot", text)
        return seconds

    def set_muted(self, party: str, muted: bool) -> None:
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
        self.set_status("forwarding")
        self.end_at(at_s, "assistant-forwarded-call")

    def end(self, reason: str) -> None:
        """End the call: status, timestamps, cost, and every listen socket closes with 1000."""
        if self.ended:
            return
        now = now_ms()
        self.status = "ended"
        self.ended_reason = reason
        self.ended_at = now
        self.updated_at = now
        self.audio.end()
        for listener in list(self.listeners):
            listener.close(1000, "call ended")
        self.ended_event.set()
        self.wake.set()

    # --- views -------------------------------------------------------------------------------------------------

    def _transcript(self) -> str:
        labels = {"bot": "AI", "user": "User"}
        return "\n".join(f"{labels[m['role']]}: {m['message']}" for m in self.artifact_messages if m["role"] in labels)

    def to_api(self) -> dict[str, Any]:
        """The Call object as ``GET /call/{id}`` returns it (camelCase, Vapi's field names)."""
        call: dict[str, Any] = {
            "id": self.id,
            "orgId": self.options.org_id,
            "type": "outboundPhoneCall",
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

    def view(self) -> dict[str, Any]:
        """The emulator's own view for tests and the demo. No token, URL or key in here."""
        return {
            "id": self.id,
            "status": self.status,
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


# --- the per-call task -----------------------------------------------------------------------------------------------


async def _wait_wake(call: CallState, delay: float) -> None:
    try:
        async with asyncio.timeout(max(0.0, delay)):
            await call.wake.wait()
    except TimeoutError:
        pass


async def _sleep_unless_ended(call: CallState, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await call.ended_event.wait()
    except TimeoutError:
        pass


def _record_transcript(call: CallState, frame: dict[str, Any]) -> None:
    """Final transcripts of the scripted conversation also land in ``artifact.messages``, like Vapi's.

    Said text is already there (from the control message), so its transcript is not added twice.
    """
    if frame.get("type") != "transcript" or frame.get("transcriptType") != "final":
        return
    text = str(frame.get("transcript", ""))
    if frame.get("role") == "assistant":
        for said in call._unspoken:
            if text in said:
                call._unspoken.remove(said)
                return
    call.add_artifact_message("bot" if frame.get("role") == "assistant" else "user", text)


def _after_audio(call: CallState) -> None:
    position = call.audio.position_s
    drop_at = call.scenario.drop_socket_at_s
    if drop_at is not None and not call.dropped and position >= drop_at and call.listeners:
        call.dropped = True  # once per call: a reconnect must then work
        for listener in list(call.listeners):
            listener.abort()
    if call.pending_end is not None and position >= call.pending_end[0]:
        call.end(call.pending_end[1])
    elif call.audio.done and call.scenario.end_when_done:
        call.end("customer-ended-call")


def _fan_out(call: CallState, pcm: bytes, frame_bytes: int) -> None:
    listeners = list(call.listeners)
    if listeners:
        for offset in range(0, len(pcm), frame_bytes):
            frame = pcm[offset : offset + frame_bytes]
            for listener in listeners:
                listener.push_audio(frame)
    for text in call.audio.due_text_frames():
        _record_transcript(call, text)
        for listener in listeners:
            listener.push_text(text)


async def _produce(call: CallState) -> None:
    """Advance the call's audio in real (time-scaled) time until it ends; cheap while nobody listens."""
    call.start_clock()
    while not call.ended:
        call.wake.clear()
        call.advance()
        if call.ended:
            return
        timeout = call.next_frame_at() - time.monotonic()
        await _wait_wake(call, timeout if call.listeners else max(timeout, IDLE_TICK_S))


async def drive_call(call: CallState) -> None:
    """queued → ringing → in-progress (time-scaled), then produce audio until the call ends."""
    scale = call.options.time_scale
    await _sleep_unless_ended(call, call.options.ring_s / scale)
    if call.status == "queued":
        call.set_status("ringing")
    await _sleep_unless_ended(call, call.options.answer_s / scale)
    if call.status in ("queued", "ringing"):
        call.set_status("in-progress")
    if not call.ended:
        await _produce(call)
