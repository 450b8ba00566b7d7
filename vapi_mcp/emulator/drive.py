"""The task that drives one call through time: status progression, then its audio.

From ``in-progress`` on, one producer task per call advances the call's
:class:`~vapi_mcp.emulator.audio.CallAudio` against the monotonic clock whether or not anyone listens (the
conversation goes on without an audience, exactly like a live call) and fans each 20 ms frame out to the
connected :class:`~vapi_mcp.emulator.listener.Listener` queues. A listener that connects late hears the call
from *now*. A control message calls :func:`advance` first, so its side effect lands at the right call time.
"""

from __future__ import annotations

import asyncio
import math
import time

from vapi_mcp.emulator.state import CallState

__all__ = ["IDLE_TICK_S", "advance", "drive_call"]

IDLE_TICK_S = 0.1  # real seconds between audio renders while nobody listens (a new listener wakes it at once)
ROUNDING = 1e-9  # listen frames: float error in a call time a hair past a frame boundary


def advance(call: CallState) -> None:
    """Render and fan out every frame due by now, so that the audio is a function of call time.

    The producer calls this on its schedule (never drifting: due frames are computed from the start time,
    and a late wake-up sends all that is due). A control message calls it first, so that its side effect
    lands at the right moment even while the producer idles because nobody listens.
    """
    if call.clock_start is None or call.ended:
        return
    due = int((time.monotonic() - call.clock_start) / call.frame_real_s)
    end = _end_frame(call)
    if end is not None:
        due = min(due, max(end, call.rendered))  # a late wake-up must not stream past the call's end
    if due > call.rendered:
        samples = call.scenario.frame_samples
        _fan_out(call, call.audio.render((due - call.rendered) * samples), samples * call.scenario.channels * 2)
        call.rendered = due
    _after_audio(call)


def _frames(call: CallState, seconds: float) -> float:
    """Call time in listen frames; within ROUNDING of a whole number it is on that frame's boundary."""
    return seconds * call.scenario.sample_rate / call.scenario.frame_samples


def _end_frame(call: CallState) -> int | None:
    """The listen frame in which the call ends, as far as it is known now (None: not yet known)."""
    ends = [call.pending_end[0]] if call.pending_end is not None else []
    if call.scenario.end_when_done:
        ends.append(call.audio.duration_s)
    if not ends:
        return None
    return math.ceil(_frames(call, min(ends)) - ROUNDING)


def _fan_out(call: CallState, pcm: bytes, frame_bytes: int) -> None:
    listeners = list(call.listeners)
    if listeners:
        for offset in range(0, len(pcm), frame_bytes):
            frame = pcm[offset : offset + frame_bytes]
            for listener in listeners:
                listener.push_audio(frame)
    for text in call.audio.due_text_frames():
        call.emit(text)  # as a server message too (transcript, speech-update), when the call has a Server URL
        call.record_transcript(text)
        for listener in listeners:
            listener.push_text(text)


def _after_audio(call: CallState) -> None:
    position = call.audio.position_s
    drop_at = call.scenario.drop_socket_at_s
    if drop_at is not None and not call.dropped and position >= drop_at and call.listeners:
        call.dropped = True  # once per call: a reconnect must then work
        for listener in list(call.listeners):
            listener.abort()
    # With _end_frame's rounding: 0.14 + 1.0 s is 1.1400000000000001, the audio stops at 1.14, and the call ends.
    if call.pending_end is not None and _frames(call, position) >= _frames(call, call.pending_end[0]) - ROUNDING:
        call.end(call.pending_end[1])
    elif call.audio.done and call.scenario.end_when_done:
        call.end(call.scenario.ended_reason)


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


async def _produce(call: CallState) -> None:
    """Advance the call's audio in real (time-scaled) time until it ends; cheap while nobody listens."""
    call.start_clock()
    while not call.ended:
        call.wake.clear()
        advance(call)
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
