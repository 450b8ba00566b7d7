"""Driving a call through time: however late the producer wakes, the audio stops exactly where the call ends."""

from __future__ import annotations

import time

from tests.emulator.common import emulator_options
from vapi_mcp.emulator.audio import CallAudio
from vapi_mcp.emulator.drive import advance
from vapi_mcp.emulator.listener import Close, Listener
from vapi_mcp.emulator.scenario import get_scenario
from vapi_mcp.emulator.state import CallState


def started_call(scenario_name: str, *, seconds_ago: float) -> CallState:
    scenario = get_scenario(scenario_name)
    call = CallState(
        id="call-1",
        token="token",
        options=emulator_options(scenario_name, time_scale=1.0),
        request={"assistantId": "a"},
        scenario=scenario,
        audio=CallAudio(scenario),
        monitor_authority="127.0.0.1:1",
    )
    call.set_status("in-progress")
    call.clock_start = time.monotonic() - seconds_ago  # as if the producer had slept through all of it
    return call


def drained(listener: Listener) -> tuple[int, object]:
    """(audio bytes, the last item) of everything queued."""
    size, last = 0, None
    queue = listener._queue  # the test reads what the socket handler would send
    while not queue.empty():
        last = queue.get_nowait()
        if isinstance(last, bytes):
            size += len(last)
    return size, last


def test_a_late_wake_up_streams_up_to_the_end_of_the_call_and_not_past_it() -> None:
    call = started_call("quick", seconds_ago=30.0)  # the script lasts 4 s
    listener = Listener()
    call.listeners.add(listener)
    advance(call)
    duration = call.scenario.duration_s
    assert call.ended and call.ended_reason == "customer-ended-call"
    assert call.audio.position_s == duration
    size, last = drained(listener)
    assert size == round(duration * 16000) * 4 and last == Close(1000, "call ended")


def test_a_pending_end_caps_the_audio_too() -> None:
    call = started_call("open-ended", seconds_ago=1.0)
    advance(call)
    assert not call.ended and 0.9 <= call.audio.position_s <= 1.0
    call.end_at(1.5, "manually-canceled")
    call.clock_start = time.monotonic() - 60.0
    advance(call)
    assert call.ended and call.ended_reason == "manually-canceled" and call.audio.position_s == 1.5


def test_an_end_already_passed_ends_the_call_without_more_audio() -> None:
    call = started_call("open-ended", seconds_ago=2.0)
    advance(call)
    position = call.audio.position_s
    call.end_at(0.5, "assistant-forwarded-call")
    advance(call)
    assert call.ended and call.ended_reason == "assistant-forwarded-call" and call.audio.position_s == position


def test_an_end_one_second_on_ends_the_call_from_every_frame() -> None:
    """A transfer ends the call at its position + 1 s: 0.14 + 1.0 is 1.1400000000000001, a hair past the frame
    boundary. The end frame rounds that hair away, so the end check must too, or the call forwards forever."""
    for frame in range(200):
        call = started_call("open-ended", seconds_ago=(frame + 0.5) * 0.020)
        advance(call)
        assert call.rendered == frame
        call.end_at(call.audio.position_s + 1.0, "assistant-forwarded-call")
        call.clock_start = time.monotonic() - 60.0
        advance(call)
        assert call.ended, f"a transfer at frame {frame} ({call.audio.position_s} s) never ended the call"
        assert call.rendered == frame + 50
