"""Listen-socket frames: PCM reassembly across arbitrary message cuts, and text-frame classification."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from vapi_mcp.listen.frames import (
    MAX_STORED_MESSAGE,
    AudioFormat,
    FormatFrame,
    MalformedFrame,
    MessageFrame,
    PcmBuffer,
    TranscriptFrame,
    parse_text_frame,
)

TEXT_FRAME_TYPES = (FormatFrame, TranscriptFrame, MessageFrame, MalformedFrame)


# ---------------------------------------------------------------------------------------------- AudioFormat
def test_audio_format_defaults_and_sizes() -> None:
    fmt = AudioFormat()
    assert (fmt.sample_rate, fmt.channels, fmt.bytes_per_frame, fmt.bytes_per_second) == (16000, 2, 4, 64000)
    assert AudioFormat(sample_rate=8000, channels=1).bytes_per_frame == 2


@pytest.mark.parametrize(
    ("rate", "channels"), [(7999, 2), (48001, 2), (16000, 0), (16000, 3), (16000.0, 2), (16000, True)]
)
def test_audio_format_rejects_what_it_cannot_analyse(rate: object, channels: object) -> None:
    with pytest.raises(ValueError):
        AudioFormat(sample_rate=rate, channels=channels)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- PcmBuffer
def stereo_bytes(frames: int, seed: int = 0) -> tuple[np.ndarray, bytes]:
    samples = np.random.default_rng(seed).integers(-32768, 32767, size=(frames, 2), dtype=np.int16)
    return samples, samples.astype("<i2").tobytes()


@pytest.mark.parametrize("size", [1, 3, 1279, 1281])
def test_odd_message_sizes_reassemble_exactly(size: int) -> None:
    samples, raw = stereo_bytes(16000)  # 1 s
    buffer = PcmBuffer(AudioFormat(), block_s=0.25)
    blocks = []
    for i in range(0, len(raw), size):
        buffer.append(raw[i : i + size])
        block = buffer.take_block()
        if block is not None:
            assert block.dtype == np.int16
            assert block.ndim == 2
            assert block.shape[1] == 2
            assert len(block) >= 4000  # never less than block_s of audio unless forced
            blocks.append(block)
        assert buffer.pending_bytes < 4000 * 4 + size
    tail = buffer.take_block(force=True)
    if tail is not None:
        blocks.append(tail)
    assert buffer.pending_bytes == 0
    assert np.array_equal(np.concatenate(blocks), samples)


def test_partial_frame_stays_buffered() -> None:
    samples, raw = stereo_bytes(4001)
    buffer = PcmBuffer(AudioFormat(), block_s=0.25)
    buffer.append(raw[:-3])  # 4000 whole frames and 1 byte of the next
    assert buffer.pending_bytes == 4000 * 4 + 1
    block = buffer.take_block()
    assert block is not None
    assert np.array_equal(block, samples[:4000])
    assert buffer.pending_bytes == 1
    assert buffer.take_block() is None
    assert buffer.take_block(force=True) is None  # not even one whole frame
    buffer.append(raw[-3:])
    assert buffer.take_block() is None  # one frame: less than a block
    forced = buffer.take_block(force=True)
    assert forced is not None
    assert np.array_equal(forced, samples[4000:])


def test_taken_blocks_own_their_memory() -> None:
    samples, raw = stereo_bytes(8000)
    buffer = PcmBuffer(AudioFormat(), block_s=0.25)
    buffer.append(raw[:16001])
    block = buffer.take_block()
    assert block is not None
    block[0, 0] = 123  # writable, and not a view of the buffer ...
    buffer.append(raw[16001:])  # ... which can still grow (no "existing exports" error)
    rest = buffer.take_block()
    assert rest is not None
    assert np.array_equal(rest, samples[4000:])


def test_view_stays_valid_after_more_appends() -> None:
    samples, raw = stereo_bytes(12000)
    buffer = PcmBuffer(AudioFormat(), block_s=0.25)
    assert buffer.append(raw[:15999]) is False  # not yet a block
    assert buffer.append(raw[15999:16002]) is True
    view = buffer.take_view()
    assert view is not None and len(view) == 16000
    assert bytes(view) == raw[:16000]
    # A message far bigger than a block while the view is still alive: the view is of immutable bytes.
    assert buffer.append(raw[16002:]) is True
    assert bytes(view) == raw[:16000]
    rest = buffer.take_block()
    assert rest is not None
    assert np.array_equal(rest, samples[4000:])
    assert buffer.pending_bytes == 0


def test_mono_buffer_and_clear() -> None:
    buffer = PcmBuffer(AudioFormat(sample_rate=8000, channels=1), block_s=0.5)
    buffer.append(b"\x01\x00" * 3999 + b"\x02")
    assert buffer.take_block() is None
    buffer.append(b"\x00\x05")
    block = buffer.take_block()
    assert block is not None
    assert block.shape == (4000, 1)
    assert block[-1, 0] == 2
    assert buffer.pending_bytes == 1
    buffer.clear()
    assert buffer.pending_bytes == 0
    assert buffer.format == AudioFormat(sample_rate=8000, channels=1)


def test_block_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PcmBuffer(AudioFormat(), block_s=0)


# ---------------------------------------------------------------------------------------------- format frames
def test_leading_start_frame() -> None:
    frame = parse_text_frame('{"type":"start","encoding":"linear16","container":"raw","sampleRate":8000,"channels":1}')
    assert frame == FormatFrame(sample_rate=8000, channels=1)
    assert frame.format == AudioFormat(sample_rate=8000, channels=1)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"sampleRate": 24000}, FormatFrame(24000, 2)),  # no type needed; channels keep the default
        ({"channels": 1}, FormatFrame(16000, 1)),
        ({"type": "format", "sampleRate": 44100.0, "channels": 2}, FormatFrame(44100, 2)),
    ],
)
def test_partial_format_frames(obj: dict, expected: FormatFrame) -> None:
    assert parse_text_frame(json.dumps(obj)) == expected


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "start", "sampleRate": 4000},
        {"type": "start", "sampleRate": 96000},
        {"type": "start", "channels": 6},
        {"type": "start", "sampleRate": 16000.5},
    ],
)
def test_unsupported_formats_are_malformed(obj: dict) -> None:
    assert isinstance(parse_text_frame(json.dumps(obj)), MalformedFrame)


def test_non_numeric_format_fields_are_just_data() -> None:
    frame = parse_text_frame('{"type":"status-update","channels":["web","phone"]}')
    assert isinstance(frame, MessageFrame)
    assert frame.type == "status-update"


# ---------------------------------------------------------------------------------------------- transcripts
@pytest.mark.parametrize(
    ("role", "party"), [("user", "customer"), ("assistant", "assistant"), ("bot", "assistant"), ("User", "customer")]
)
def test_transcript_roles(role: str, party: str) -> None:
    frame = parse_text_frame(
        json.dumps({"type": "transcript", "role": role, "transcriptType": "partial", "transcript": "hello"})
    )
    assert frame == TranscriptFrame(role=party, text="hello", final=False, raw_type="transcript")  # type: ignore[arg-type]


def test_transcript_final_and_bracketed_type() -> None:
    final = parse_text_frame('{"type":"transcript","role":"user","transcriptType":"final","transcript":"yes"}')
    assert isinstance(final, TranscriptFrame)
    assert final.final is True
    kind = 'transcript[transcriptType="final"]'
    bracketed = parse_text_frame(json.dumps({"type": kind, "role": "assistant", "transcript": "Hi there"}).encode())
    assert bracketed == TranscriptFrame(role="assistant", text="Hi there", final=True, raw_type=kind)
    partial = parse_text_frame(
        json.dumps({"type": 'transcript[transcriptType="partial"]', "role": "user", "transcript": "Hi"})
    )
    assert isinstance(partial, TranscriptFrame)
    assert partial.final is False


def test_transcript_we_do_not_understand_passes_through() -> None:
    frame = parse_text_frame('{"type":"transcript","role":"tool","transcript":"x"}')
    assert isinstance(frame, MessageFrame)
    assert frame.data["role"] == "tool"
    assert isinstance(parse_text_frame('{"type":"transcript","role":"user","transcript":5}'), MessageFrame)


# ---------------------------------------------------------------------------------------------- messages
def test_other_messages_pass_through() -> None:
    frame = parse_text_frame('{"type":"speech-update","status":"started","role":"assistant"}')
    assert frame == MessageFrame("speech-update", {"type": "speech-update", "status": "started", "role": "assistant"})


def test_big_messages_keep_only_their_type() -> None:
    text = json.dumps({"type": "conversation-update", "messages": ["x" * 1000] * 70})
    assert MAX_STORED_MESSAGE < len(text) < 1 << 20
    frame = parse_text_frame(text)
    assert isinstance(frame, MessageFrame)
    assert frame.type == "conversation-update"
    assert frame.data == {"type": "conversation-update", "truncated": True, "size": len(text)}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[1, 2, 3]",
        '"just a string"',
        "{}",
        '{"type": 5}',
        '{"type": ""}',
        json.dumps({"type": "x" * 500}),
        b"\xff\xfe{}",
        "[" * 100_000 + "]" * 100_000,  # deep nesting: RecursionError inside json
        "{" + '"a":' * 3,
    ],
)
def test_malformed_frames(text: str | bytes) -> None:
    frame = parse_text_frame(text)
    assert isinstance(frame, MalformedFrame)
    assert frame.reason


def test_oversized_frames_are_not_parsed() -> None:
    huge = '{"type":"x","pad":"' + "a" * (2 << 20) + '"}'
    frame = parse_text_frame(huge)
    assert isinstance(frame, MalformedFrame)
    assert "too large" in frame.reason
    assert isinstance(parse_text_frame(huge.encode()), MalformedFrame)


def test_a_garbage_stream_never_raises() -> None:
    rng = random.Random(1234)
    valid = [
        '{"type":"transcript","role":"user","transcriptType":"final","transcript":"ok"}',
        '{"type":"start","sampleRate":16000,"channels":2}',
        '{"type":"hang","data":{"a":[1,2,{"b":null}]}}',
    ]
    seen: set[type] = set()
    buffer = PcmBuffer(AudioFormat())
    for i in range(1000):
        choice = rng.randrange(6)
        if choice == 0:
            data: str | bytes = rng.randbytes(rng.randrange(0, 3000))
        elif choice == 1:
            data = "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(0, 200)))
        elif choice == 2:
            good = rng.choice(valid)
            cut = rng.randrange(len(good) + 1)
            data = good[:cut] + good[cut + 1 :]  # one character missing somewhere
        elif choice == 3:
            data = rng.choice(valid)
        elif choice == 4:
            data = json.dumps(rng.choice([None, 1, 2.5, True, [], "x", {"type": None}, {"type": ["a"]}]))
        else:
            data = rng.randbytes(rng.randrange(0, 50)).decode("latin-1")
        if i == 500:
            data = "{" * (2 << 20)  # a 2 MiB text frame
        frame = parse_text_frame(data)
        assert isinstance(frame, TEXT_FRAME_TYPES)
        seen.add(type(frame))
        if isinstance(data, bytes):  # the same garbage as audio must not break the buffer either
            buffer.append(data)
            block = buffer.take_block()
            assert block is None or block.shape[1] == 2
    assert seen == set(TEXT_FRAME_TYPES)


def test_wrong_argument_types_are_malformed_not_errors() -> None:
    assert isinstance(parse_text_frame(None), MalformedFrame)  # type: ignore[arg-type]
    assert isinstance(parse_text_frame(12), MalformedFrame)  # type: ignore[arg-type]
    frame = parse_text_frame(bytearray(b'{"type":"ping"}'))  # type: ignore[arg-type]
    assert frame == MessageFrame("ping", {"type": "ping"})


def test_a_vapi_message_carrying_the_call_object_is_stored_without_monitor_urls() -> None:
    """Issue 8, defect 4: Vapi's messages carry ``call.monitor``; the capability must never be stored."""
    listen_url = "wss://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/c-1/listen"
    control_url = "https://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/c-1/control"
    frame = parse_text_frame(
        json.dumps(
            {
                "type": "status-update",
                "call": {"id": "c-1", "monitor": {"listenUrl": listen_url, "controlUrl": control_url}},
                "note": f"see {control_url}",
            }
        )
    )
    assert isinstance(frame, MessageFrame)
    stored = json.dumps(frame.data)
    assert "/listen" not in stored and "/control" not in stored and "vapi.ai/c-1" not in stored
    assert frame.data["call"]["id"] == "c-1" and frame.data["type"] == "status-update"
