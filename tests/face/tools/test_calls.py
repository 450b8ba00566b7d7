"""Live listening through the SDK client against the emulator's listen socket on loopback.

The emulator knows the ground truth of what it streamed; the audio summary our server
builds from the socket must match it within the issue's tolerances.
"""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.conftest import API_KEY, make_settings
from tests.helpers import call_ok, create_call, read_json, wait_status
from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator
from vapi_mcp.face import create_server

SPEECH = ["speech.started", "speech.stopped"]


async def supervise_whole_call(
    tmp_path: Path, *, scenario: str = "support-call", time_scale: float = 2.0, **knobs: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], Any, Emulator]:
    """Create a listened call, let the scenario play out, return (summary, events, ground truth, emulator)."""
    options = EmulatorOptions(api_key=API_KEY, scenario=scenario, time_scale=time_scale, **knobs)
    async with running_emulator(options) as emu:
        settings = make_settings(emu, tmp_path, poll_interval_s=0.05)
        async with Client(create_server(settings)) as client:
            call_id = await create_call(client, listen=True)
            await wait_status(client, call_id, "ended", timeout=60)
            with anyio.fail_after(10):
                while (await call_ok(client, "get_call", {"call_id": call_id}))["listen_state"] not in (
                    "closed",
                    "failed",
                ):
                    await anyio.sleep(0.05)
            summary = await call_ok(client, "get_audio_summary", {"call_id": call_id})
            page = await call_ok(client, "get_call_events", {"call_id": call_id, "limit": 500})
            return summary, page["events"], emu.ground_truth(call_id), emu


def assert_matches_truth(summary: dict[str, Any], truth: Any) -> None:
    for party in ("customer", "assistant"):
        got, want = summary["parties"][party], truth.parties[party]
        assert got["talk_s"] == pytest.approx(want.talk_s, rel=0.2), party
        assert abs(got["turns"] - want.turns) <= 1, party
    assert summary["overlap_s"] == pytest.approx(truth.overlap_s, abs=0.5)
    assert summary["longest_silence_s"] == pytest.approx(truth.longest_silence_s, abs=0.5)


@pytest.mark.slow
async def test_summary_matches_ground_truth_and_events_are_in_order(tmp_path: Path) -> None:
    with anyio.fail_after(60):
        summary, events, truth, _ = await supervise_whole_call(tmp_path)
    assert_matches_truth(summary, truth)
    assert summary["interruptions"] >= 1 and summary["overlap_s"] > 0.3
    speech = [(e["type"], e["data"]["party"]) for e in events if e["type"] in SPEECH]
    assert speech == [tuple(item) for item in truth.events]
    types = [e["type"] for e in events]
    assert types.index("listen.connected") < types.index("speech.started")
    assert types[-1] in ("listen.closed", "call.status")
    assert "overlap" in types
    transcripts = [
        (e["data"]["role"], e["data"]["text"]) for e in events if e["type"] == "transcript" and e["data"]["final"]
    ]
    vapi_role = {"customer": "user", "assistant": "assistant"}  # our events name parties; Vapi says "user"
    assert [(vapi_role[role], text) for role, text in transcripts] == [tuple(item) for item in truth.transcripts]
    assert len(summary["sparkline"]["customer"]) > 0


@pytest.mark.slow
async def test_dropped_socket_reconnects_and_summary_covers_the_call(tmp_path: Path) -> None:
    with anyio.fail_after(60):
        summary, events, truth, _ = await supervise_whole_call(tmp_path, drop_socket_at_s=4.0)
    types = [e["type"] for e in events]
    assert "listen.reconnecting" in types
    assert types.count("listen.connected") == 2
    assert summary["gaps_s"] > 0, "the reconnect gap is accounted, neither talk nor silence"
    assert summary["duration_s"] == pytest.approx(truth.duration_s, abs=0.5)
    for party in ("customer", "assistant"):
        assert summary["parties"][party]["talk_s"] == pytest.approx(truth.parties[party].talk_s, rel=0.2)


@pytest.mark.slow
@pytest.mark.parametrize("knobs", [{"odd_sizes": True}, {"format_frame": True}], ids=["odd-sizes", "format-frame"])
async def test_odd_frames_give_the_same_summary(tmp_path: Path, knobs: dict[str, Any]) -> None:
    with anyio.fail_after(60):
        summary, _, truth, _ = await supervise_whole_call(tmp_path, scenario="quick", time_scale=1.0, **knobs)
    assert_matches_truth(summary, truth)


async def test_recording_is_a_valid_wav_of_the_right_length(tmp_path: Path) -> None:
    options = EmulatorOptions(api_key=API_KEY, scenario="quick", time_scale=2.0)
    async with running_emulator(options) as emu:
        async with Client(create_server(make_settings(emu, tmp_path, poll_interval_s=0.05))) as client:
            with anyio.fail_after(30):
                call_id = await create_call(client, listen=True)
                await wait_status(client, call_id, "ended", timeout=20)
                await anyio.sleep(0.5)
                summary = await call_ok(client, "get_audio_summary", {"call_id": call_id})
                result = await client.read_resource(f"vapi://calls/{call_id}/recording.wav")
    blob = result.contents[0]
    assert blob.mime_type == "audio/wav"
    with wave.open(io.BytesIO(base64.b64decode(blob.blob))) as wav:  # type: ignore[union-attr]
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 16000)
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx(summary["duration_s"], abs=0.3)
    on_disk = tmp_path / "calls" / call_id / "recording.wav"
    assert on_disk.stat().st_mode & 0o777 == 0o600


async def test_no_recording_when_disabled(tmp_path: Path) -> None:
    options = EmulatorOptions(api_key=API_KEY, scenario="quick", time_scale=4.0)
    async with running_emulator(options) as emu:
        async with Client(create_server(make_settings(emu, tmp_path, record=False, poll_interval_s=0.05))) as client:
            with anyio.fail_after(30):
                call_id = await create_call(client, listen=True)
                await wait_status(client, call_id, "ended", timeout=20)
                summary = await call_ok(client, "get_audio_summary", {"call_id": call_id})
                assert summary["duration_s"] > 0
                with pytest.raises(Exception, match="no recording"):
                    await client.read_resource(f"vapi://calls/{call_id}/recording.wav")
    assert not (tmp_path / "calls" / call_id / "recording.wav").exists()


async def test_wait_for_event_returns_on_event_and_on_timeout(client: Client) -> None:
    with anyio.fail_after(30):
        call_id = await create_call(client, listen=True)
        progress: list[float] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(done)

        result = await client.call_tool(
            "wait_for_event",
            {"call_id": call_id, "types": ["speech.started"], "timeout_s": 20},
            progress_callback=on_progress,
        )
        got = result.structured_content
        assert got is not None and got["matched"] is True
        assert got["events"][0]["type"] == "speech.started"
        result = await client.call_tool(
            "wait_for_event",
            {"call_id": call_id, "types": ["no-such-event"], "timeout_s": 1.5},
            progress_callback=on_progress,
        )
        got = result.structured_content
        assert got is not None and got["matched"] is False and got["waited_s"] >= 1.5
        assert progress, "progress is reported while waiting"


async def test_subscribers_are_notified_in_both_eras(settings: Any, emulator: Emulator) -> None:
    from mcp.client.subscriptions import ResourceUpdated
    from mcp.types import ResourceUpdatedNotification

    server = create_server(settings)
    with anyio.fail_after(30):
        async with Client(server) as modern:
            call_id = await create_call(modern, listen=True)
            uri = f"vapi://calls/{call_id}/events"
            updates: list[Any] = []
            async with modern.listen(resource_subscriptions=[uri, f"vapi://calls/{call_id}/audio-summary"]) as sub:

                async def consume() -> None:
                    async for event in sub:
                        updates.append(event)
                        if sum(isinstance(e, ResourceUpdated) and e.uri == uri for e in updates) >= 3:
                            return

                await consume()
            assert sum(isinstance(e, ResourceUpdated) and e.uri == uri for e in updates) >= 3

        legacy_msgs: list[Any] = []

        async def on_message(message: Any) -> None:
            legacy_msgs.append(message)

        async with Client(server, mode="legacy", message_handler=on_message) as legacy:
            caps = legacy.server_capabilities
            assert caps is not None and caps.resources is not None
            assert caps.resources.subscribe and caps.resources.list_changed
            call_id = await create_call(legacy, listen=True)
            uri = f"vapi://calls/{call_id}/events"
            await legacy.subscribe_resource(uri)
            while sum(isinstance(m, ResourceUpdatedNotification) and str(m.params.uri) == uri for m in legacy_msgs) < 3:
                await anyio.sleep(0.05)


async def test_updates_are_coalesced(settings: Any) -> None:
    """However chatty the call, one URI gets at most ~4 updates per second."""
    from mcp.client.subscriptions import ResourceUpdated

    server = create_server(settings)
    with anyio.fail_after(30):
        async with Client(server) as client:
            call_id = await create_call(client, listen=True)
            uri = f"vapi://calls/{call_id}/audio-summary"
            seen: list[float] = []
            async with client.listen(resource_subscriptions=[uri]) as sub:
                with anyio.move_on_after(3.0):
                    async for event in sub:
                        if isinstance(event, ResourceUpdated):
                            seen.append(anyio.current_time())
            assert len(seen) >= 3
            assert len(seen) <= 3.0 * 4 + 2


async def test_stop_listening_and_shutdown_leave_nothing_behind(settings: Any, emulator: Emulator) -> None:
    with anyio.fail_after(30):
        async with Client(create_server(settings)) as client:
            call_id = await create_call(client, listen=True)
            await call_ok(client, "wait_for_event", {"call_id": call_id, "types": ["listen.connected"], "after_seq": 0})
            assert emulator.view(call_id)["listeners"] == 1
            stopped = await call_ok(client, "stop_listening", {"call_id": call_id})
            assert stopped["listening"] is False
            while emulator.view(call_id)["listeners"]:
                await anyio.sleep(0.05)
            info = await call_ok(client, "get_call", {"call_id": call_id})
            assert info["listening"] is False
            events = await call_ok(client, "get_call_events", {"call_id": call_id, "after_seq": 0})
            assert events["events"]  # the log stays readable
            await call_ok(client, "start_listening", {"call_id": call_id})
            await call_ok(client, "wait_for_event", {"call_id": call_id, "types": ["listen.connected"]})
            other = await create_call(client, listen=True)
            await call_ok(client, "wait_for_event", {"call_id": other, "types": ["listen.connected"], "after_seq": 0})
            leaving = anyio.current_time()
        # The client is gone and the server's lifespan ended within a few seconds: every socket is closed.
        assert anyio.current_time() - leaving < 3.0
        with anyio.fail_after(1):
            while emulator.view(call_id)["listeners"] or emulator.view(other)["listeners"]:
                await anyio.sleep(0.05)


async def test_call_end_stops_the_session_by_itself(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(30):
        call_id = await create_call(client, listen=True)
        await call_ok(client, "wait_for_event", {"call_id": call_id, "types": ["listen.connected"], "after_seq": 0})
        await wait_status(client, call_id, "in-progress")  # the socket opens before the call is live
        await call_ok(client, "end_call", {"call_id": call_id})
        closed = await call_ok(
            client, "wait_for_event", {"call_id": call_id, "types": ["listen.closed"], "after_seq": 0}
        )
        assert closed["matched"]
        info = await wait_status(client, call_id, "ended")
        assert info["listen_state"] == "closed" and info["listening"] is False
        summary = await read_json(client, f"vapi://calls/{call_id}/audio-summary")
        assert summary["call_id"] == call_id and summary["duration_s"] > 0
        calls = await read_json(client, "vapi://calls")
        assert any(c["call_id"] == call_id and c["status"] == "ended" for c in calls["calls"])
