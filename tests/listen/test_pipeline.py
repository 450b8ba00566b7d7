"""AudioPipeline fed bytes with no socket, and ListenSession against a hostile listen server."""

from __future__ import annotations

import json
import random
import socket
import time
import tracemalloc
import wave
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from websockets.asyncio.server import ServerConnection, serve

from vapi_mcp.emulator.audio import CallAudio
from vapi_mcp.emulator.scenario import get_scenario, ground_truth
from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.pipeline import AudioPipeline
from vapi_mcp.listen.session import ListenSession


def _pipeline(tmp_path: Path, record: bool = True) -> AudioPipeline:
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = EventLog("c1", journal=tmp_path / "events.jsonl")
    return AudioPipeline("c1", log, recording_path=tmp_path / "rec.wav" if record else None)


def _stream(scenario: str, frame_bytes: int = 1280) -> list[bytes | str]:
    audio = CallAudio(get_scenario(scenario))
    out: list[bytes | str] = []
    while not audio.done:
        pcm = audio.render(audio.frame_samples)
        out.extend(pcm[i : i + frame_bytes] for i in range(0, len(pcm), frame_bytes))
        out.extend(json.dumps(frame) for frame in audio.due_text_frames())
    return out


def test_pipeline_summary_matches_ground_truth(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    for message in _stream("support-call"):
        pipeline.feed(message)
    pipeline.finish()
    truth = ground_truth(get_scenario("support-call"))
    summary = pipeline.summary()
    for party in ("customer", "assistant"):
        assert summary.parties[party].talk_s == pytest.approx(truth.parties[party].talk_s, rel=0.05)
        assert summary.parties[party].turns == truth.parties[party].turns
    assert summary.overlap_s == pytest.approx(truth.overlap_s, abs=0.1)
    events = pipeline.log.read(limit=1000).events
    speech = [(e.type, e.data["party"]) for e in events if e.type.startswith("speech.")]
    assert speech == [tuple(item) for item in truth.events]
    finals = [(e.data["role"], e.data["text"]) for e in events if e.type == "transcript" and e.data["final"]]
    assert len(finals) == len(truth.transcripts)
    with wave.open(str(tmp_path / "rec.wav")) as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(truth.duration_s, abs=0.03)


@pytest.mark.parametrize("frame_bytes", [1, 3, 1279, 1283, 4097])
def test_odd_message_sizes_change_nothing(tmp_path: Path, frame_bytes: int) -> None:
    reference = _pipeline(tmp_path / "ref", record=False)
    for message in _stream("quick"):
        reference.feed(message)
    reference.finish()
    odd = _pipeline(tmp_path / "odd", record=False)
    for message in _stream("quick", frame_bytes=frame_bytes):
        odd.feed(message)
    odd.finish()
    assert odd.summary() == reference.summary()


def test_leading_format_frame_is_honoured(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    pipeline.feed(json.dumps({"type": "start", "encoding": "linear16", "sampleRate": 8000, "channels": 1}))
    pipeline.feed(b"\x00\x10" * 8000)  # one second of mono 8 kHz
    pipeline.finish()
    summary = pipeline.summary()
    assert (summary.sample_rate, summary.channels) == (8000, 1)
    assert summary.duration_s == pytest.approx(1.0)
    with wave.open(str(tmp_path / "rec.wav")) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (8000, 1, 8000)


def test_a_reconnect_drops_the_old_sockets_partial_frame(tmp_path: Path) -> None:
    """Half a sample frame before a gap must not shift (and swap the channels of) the new socket's audio."""
    pipeline = _pipeline(tmp_path)
    left_only = (b"\xff\x7f" + b"\x00\x00") * 16000  # one second: customer at full scale, assistant silent
    pipeline.feed(left_only + b"\x01")  # the old socket died mid-frame
    pipeline.gap(0.5)
    pipeline.feed(left_only)
    pipeline.finish()
    parties = pipeline.summary().parties
    assert parties["customer"].peak_dbfs > -1 and parties["assistant"].peak_dbfs < -90


def test_pause_then_resume_keeps_call_time(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path)
    pipeline.feed(b"\x00" * 1280 * 50)  # 1 s
    pipeline.pause()
    time.sleep(0.3)
    pipeline.feed(b"\x00" * 1280 * 50)  # 1 s more, after a 0.3 s pause
    pipeline.finish()
    summary = pipeline.summary()
    assert summary.duration_s == pytest.approx(2.3, abs=0.05)
    with wave.open(str(tmp_path / "rec.wav")) as wav:
        assert wav.getnframes() / 16000 == pytest.approx(2.3, abs=0.05)


def _garbage(rng: random.Random) -> bytes | str:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 5000))
    if kind == 1:
        return "{not json" + "x" * rng.randrange(100)
    if kind == 2:
        return json.dumps([1, 2, 3])
    if kind == 3:
        return json.dumps({"type": "x" * rng.randrange(1, 50), "payload": "y" * rng.randrange(1000)})
    if kind == 4:
        return "\x00\xff" * rng.randrange(1, 100)
    return json.dumps({"no-type": True})


def test_garbage_stream_neither_crashes_nor_leaks(tmp_path: Path) -> None:
    rng = random.Random(7)
    pipeline = _pipeline(tmp_path)
    tracemalloc.start()
    try:
        for i in range(1000):
            pipeline.feed(_garbage(rng) if i != 500 else "{" + "a" * (2 * 1024 * 1024))
        pipeline.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pipeline.malformed > 100
    assert peak < 32 * 1024 * 1024
    assert pipeline.summary().duration_s > 0


async def _listen_to(
    handler: Any, tmp_path: Path, *, call_over: bool, **serve_options: Any
) -> tuple[AudioPipeline, ListenSession]:
    """Serve ``handler`` on a loopback socket and run one ListenSession against it to the end."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def is_over() -> bool:
        return call_over

    async with serve(handler, sock=sock, **serve_options):
        pipeline = _pipeline(tmp_path)
        session = ListenSession(
            "c1", f"ws://127.0.0.1:{port}/t/c1/listen", pipeline, pipeline.log, call_is_over=is_over
        )
        with anyio.fail_after(20):
            await session.run()
    return pipeline, session


async def test_session_survives_a_hostile_server(tmp_path: Path) -> None:
    """1,000 garbage frames over a real socket, then a normal close: the session ends cleanly."""
    rng = random.Random(11)
    frames = [_garbage(rng) for _ in range(1000)] + ["{" * 10, "x" * (1024 * 1024)]

    async def handler(ws: ServerConnection) -> None:
        for frame in frames:
            await ws.send(frame)
        await ws.close(1000)

    pipeline, session = await _listen_to(handler, tmp_path, call_over=True, max_size=None)
    events = [e.type for e in pipeline.log.read(limit=10_000).events]
    assert events[0] == "listen.connected" and events[-1] == "listen.closed"
    assert pipeline.frames == len(frames)
    assert session.closed_reason == "call ended"


async def test_session_reconnects_after_abnormal_close_and_gives_up_on_4xx(tmp_path: Path) -> None:
    attempts = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal attempts
        attempts += 1
        await ws.send(b"\x00" * 1280)
        if attempts == 1:
            ws.transport.abort()  # no close frame: 1006
            return
        await ws.close(1000)

    pipeline, _ = await _listen_to(handler, tmp_path / "drop", call_over=False)
    types = [e.type for e in pipeline.log.read(limit=100).events]
    assert types == ["listen.connected", "listen.reconnecting", "listen.gap", "listen.connected", "listen.closed"]
    gap = pipeline.log.read(limit=100, types=["listen.gap"]).events[0].data
    assert gap["reason"] == "reconnect" and gap["gap_s"] > 0
    assert gap["from_s"] == pytest.approx(1280 / 4 / 16000)  # the call time heard before the drop
    assert gap["to_s"] == pytest.approx(gap["from_s"] + gap["gap_s"], abs=1 / 16000)  # to the sample

    def refuse(connection: ServerConnection, request: object) -> object:
        return connection.respond(404, "no such call\n")

    pipeline, _ = await _listen_to(handler, tmp_path / "refused", call_over=False, process_request=refuse)
    (closed,) = pipeline.log.read(limit=10).events
    assert closed.type == "listen.closed" and "404" in closed.data["reason"]


# ---------------------------------------------------------------------------------------------- direct dispatch
async def test_frames_reach_the_pipeline_in_order_and_the_recording_is_exact(tmp_path: Path) -> None:
    """Frames sent back to back from the handshake on (some arrive before the session attaches its
    pipeline), a transcript between them and a message in two fragments: the WAV holds every byte in order."""
    rng = random.Random(5)
    frames = [rng.randbytes(1280) for _ in range(300)]
    transcript = json.dumps({"type": "transcript", "role": "user", "transcriptType": "final", "transcript": "hi"})

    async def handler(ws: ServerConnection) -> None:
        for i, frame in enumerate(frames):
            if i == 150:
                await ws.send(transcript)
                await ws.send([frame[:640], frame[640:]])  # one message in two fragments
                continue
            write = ws.protocol.send_binary(frame)  # no await between frames: they arrive in bursts
            del write
            ws.send_data()
        await ws.close(1000)

    pipeline, session = await _listen_to(handler, tmp_path, call_over=True)
    assert session.closed_reason == "call ended"
    assert pipeline.frames == len(frames) + 1
    with wave.open(str(tmp_path / "rec.wav")) as wav:
        assert wav.readframes(wav.getnframes()) == b"".join(frames)
    types = [e.type for e in pipeline.log.read(limit=100).events]
    assert types[0] == "listen.connected" and "transcript" in types and types[-1] == "listen.closed"


async def test_invalid_utf8_text_frame_is_one_malformed_frame(tmp_path: Path) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(b'{"type":"\xff\xfe"}', text=True)  # websockets' recv() would close the socket (1007)
        await ws.send(b"\x00" * 1280)
        await ws.close(1000)

    pipeline, session = await _listen_to(handler, tmp_path, call_over=False)
    assert pipeline.malformed == 1
    assert session.connects == 1 and session.closed_reason == "call ended"


async def test_a_failing_pipeline_fails_the_socket_and_the_session(tmp_path: Path) -> None:
    """The disk refuses the recording: the session ends as failed, saying why, and the server sees 1011."""
    codes: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            for _ in range(200):
                await ws.send(b"\x00" * 1280)
            await ws.wait_closed()
        finally:
            codes.append(ws.close_code)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def is_over() -> bool:
        return False

    async with serve(handler, sock=sock):
        log = EventLog("c1")
        pipeline = AudioPipeline("c1", log, recording_path=tmp_path / "missing-dir" / "rec.wav")
        session = ListenSession("c1", f"ws://127.0.0.1:{port}/t/c1/listen", pipeline, log, call_is_over=is_over)
        with anyio.fail_after(20):
            await session.run()
            while not codes:
                await anyio.sleep(0.01)
    assert codes == [1011]
    assert session.connects == 1
    assert session.closed_reason == "recording or analysis failed (FileNotFoundError: No such file or directory)"
    assert [e.type for e in log.read(limit=10).events] == ["listen.connected", "listen.closed"]


def test_a_lone_surrogate_in_a_transcript_is_replaced(tmp_path: Path) -> None:
    """JSON may escape half a surrogate pair; UTF-8 cannot hold it. The transcript survives with U+FFFD."""
    pipeline = _pipeline(tmp_path, record=False)
    pipeline.feed_text(b'{"type":"transcript","role":"user","transcriptType":"final","transcript":"x\\ud800y"}')
    pipeline.feed('{"type":"odd\\udfff","a":1}')
    (transcript, message) = pipeline.log.read().events
    assert transcript.data["text"] == "x\ufffdy"
    assert message.type == "vapi.message" and message.data["type"] == "odd\ufffd"
    assert pipeline.malformed == 0


def _deliver(pipeline: AudioPipeline, message: bytes | str) -> None:
    """As the listen session does: audio to feed(), a text frame's raw payload to feed_text()."""
    if isinstance(message, bytes):
        pipeline.feed(message)
    else:
        pipeline.feed_text(message.encode())


def _log_of(pipeline: AudioPipeline) -> list[tuple[str, Any]]:
    return [(e.type, e.data) for e in pipeline.log.read(limit=10_000).events]


async def test_in_a_running_loop_the_log_is_the_same(tmp_path: Path) -> None:
    """Inside a loop, blocks wait for the end of the turn and a text frame waits behind them: the events, their
    order and the summary are those of the same stream fed without a loop. Turns end at random moments."""
    messages = _stream("support-call")  # transcripts and speech-updates come right after blocks complete
    reference = AudioPipeline("c1", EventLog("c1"), recording_path=tmp_path / "ref.wav")
    for message in messages:
        _deliver(reference, message)
    reference.finish()

    rng = random.Random(3)
    in_loop = AudioPipeline("c1", EventLog("c1"), recording_path=tmp_path / "loop.wav")
    others = [AudioPipeline(f"c{i}", EventLog(f"c{i}"), recording_path=None) for i in range(3)]
    for i, message in enumerate(messages):
        _deliver(in_loop, message)
        for other in others:  # the same turn holds other calls' blocks
            _deliver(other, messages[(i + 97) % len(messages)])
        if rng.random() < 0.02:
            await anyio.lowlevel.checkpoint()
    assert in_loop._waiting  # some work was left for the end of the turn: this is what is under test
    in_loop.finish()
    assert _log_of(in_loop) == _log_of(reference)
    assert in_loop.summary() == reference.summary()
    assert (tmp_path / "loop.wav").read_bytes() == (tmp_path / "ref.wav").read_bytes()


async def test_a_failure_at_the_end_of_a_turn_fails_the_next_feed(tmp_path: Path) -> None:
    """The journal refuses an event while a turn's work is done: the pipeline's next feed raises it (which fails
    its socket, as when the feed itself fails), and no other pipeline of the turn is affected."""
    messages = [m for m in _stream("quick") if isinstance(m, bytes)]
    failing = AudioPipeline("c1", EventLog("c1"), recording_path=None)
    healthy = AudioPipeline("c2", EventLog("c2"), recording_path=None)

    def refuse(type: str, data: Any = None) -> Any:
        raise OSError(28, "No space left on device")

    failing.log.append = refuse  # type: ignore[method-assign]
    for message in messages[:150]:  # three blocks, two of them with speech
        failing.feed(message)
        healthy.feed(message)
    await anyio.lowlevel.checkpoint()  # the turn ends: the failing pipeline's events are refused
    with pytest.raises(OSError, match="No space left"):
        failing.feed(messages[150])
    for message in messages[150:]:
        healthy.feed(message)
    healthy.finish()
    assert [e.type for e in healthy.log.read().events].count("speech.started") == 2
