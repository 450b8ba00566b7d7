"""Fuzz the listen pipeline with generated frames (issue 8, "keep them found"; defect 4).

Streams of binary frames (odd sizes, random bytes, PCM) and text frames (JSON of every shape: transcripts
and their variants, format announcements with absurd rates and channel counts, Vapi messages carrying the
call object and its monitor URLs, secrets planted anywhere, invalid UTF-8, JSON that is not an object) go
into :class:`~vapi_mcp.listen.pipeline.AudioPipeline`, pure and without sockets. It never raises; its event
log, journal and log records never hold a monitor URL or a key; its summary stays valid; memory is bounded.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import API_KEY
from tests.fuzz.leaks import Leaks
from tests.fuzz.live import HTTP_TOKEN
from tests.fuzz.profile import fuzz
from tests.fuzz.strategies import json_values, plant, unicode_text
from vapi_mcp.listen.analysis import AudioSummary
from vapi_mcp.listen.events import DEFAULT_WINDOW, EventLog
from vapi_mcp.listen.frames import MAX_SAMPLE_RATE
from vapi_mcp.listen.pipeline import AudioPipeline
from vapi_mcp.redact import install_redaction

EXAMPLES = 60
# Capability tokens: unique strings a monitor URL carries; none may be found anywhere after the pipeline.
_CAPABILITY = st.builds("cap{}x".format, st.text("0123456789abcdef", min_size=12, max_size=16))
SECRET_KEYS = ["listenUrl", "controlUrl", "apiKey", "authToken", "secret", "password", "credentials", "x-signature"]


@st.composite
def monitor_urls(draw: st.DrawFn) -> tuple[str, str]:
    """(a URL that holds a capability, the capability): Vapi's and the emulator's forms."""
    cap = draw(_CAPABILITY)
    call = draw(st.sampled_from(["c1", "7420f27a-30fd-4f49-a995-5549ae7cc00d"]))
    url = draw(
        st.sampled_from(
            [
                f"wss://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/{cap}/listen",
                f"https://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/{cap}/control",
                f"ws://127.0.0.1:40123/{cap}/{call}/listen",
                f"http://127.0.0.1:40123/{cap}/{call}/control",
                f"WSS://HOST.example/{cap}/LISTEN",
                f"/{cap}/{call}/control",
                f"wss://h.example/{cap}/transport?x=1",
            ]
        )
    )
    return url, cap


def _call_object(url: str, other: str) -> dict[str, Any]:
    return {
        "id": "7420f27a-30fd-4f49-a995-5549ae7cc00d",
        "status": "in-progress",
        "monitor": {"listenUrl": url, "controlUrl": other},
        "customer": {"number": "+14155550123"},
    }


@st.composite
def text_frames(draw: st.DrawFn, secrets: list[str]) -> str | bytes:
    """One text frame: JSON of any shape a listen socket (or a hostile one) could send, secrets planted."""
    url, cap = draw(monitor_urls())
    other, cap2 = draw(monitor_urls())
    secrets += [cap, cap2]
    planted = [url, other, API_KEY, HTTP_TOKEN]
    kind = draw(
        st.sampled_from(["transcript", "format", "message", "call-message", "any-json", "raw", "not-utf8", "big"])
    )
    if kind == "transcript":
        frame: Any = {
            "type": draw(
                st.sampled_from(
                    [
                        "transcript",
                        'transcript[transcriptType="final"]',
                        "transcript[transcriptType='partial']",
                        "transcripts",
                        "transcript[",
                        "Transcript",
                    ]
                )
            ),
            "role": draw(
                st.one_of(st.sampled_from(["user", "assistant", "bot", "customer", "USER", "system"]), json_values)
            ),
            "transcript": draw(
                st.one_of(unicode_text, st.sampled_from(planted).map("my link is {} ok".format), json_values)
            ),
        }
        if draw(st.booleans()):
            frame["transcriptType"] = draw(st.one_of(st.sampled_from(["final", "partial", "FINAL"]), json_values))
        if draw(st.booleans()):
            frame["call"] = _call_object(url, other)
    elif kind == "format":
        numbers = st.one_of(
            st.sampled_from([8000, 16000, 48000, 48001, 7999, 0, -16000, 1, 2, 3, 10**12, 16000.0, 16000.5, 1e308]),
            st.integers(),
            st.floats(allow_nan=False, allow_infinity=False),
        )
        frame = {"type": draw(st.sampled_from(["start", "format", "media"]))}
        frame |= draw(
            st.fixed_dictionaries({}, optional={"sampleRate": numbers, "channels": numbers, "encoding": unicode_text})
        )
        if draw(st.booleans()):
            frame["call"] = _call_object(url, other)
    elif kind in ("message", "call-message"):
        frame = {
            "type": draw(
                st.one_of(st.sampled_from(["status-update", "speech-update", "model-output", "hang"]), unicode_text)
            )
        }
        if kind == "call-message":
            frame["call"] = _call_object(url, other)
        frame = draw(plant(frame, planted, SECRET_KEYS))
    elif kind == "any-json":
        frame = draw(plant(draw(json_values), planted, SECRET_KEYS))
    elif kind == "raw":  # JSON a strict parser refuses, or Python's json accepts
        odd = ['{"sampleRate": NaN}', '{"channels": Infinity}', "{", "[]", "null", '"x"', "{}", '{"type": 1}']
        return draw(st.sampled_from([*odd, json.dumps({"type": url})]))
    elif kind == "not-utf8":
        return draw(st.binary(min_size=1, max_size=64)) + b"\xff\xfe"
    else:  # over the stored-message limit: kept as its type only
        frame = {
            "type": "conversation-update",
            "call": _call_object(url, other),
            "pad": "p" * draw(st.sampled_from([70_000, 1 << 20])),
        }
    return json.dumps(frame)


binary_frames = st.one_of(
    st.binary(min_size=1, max_size=1283),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=7), st.integers(1, 700)),
    st.sampled_from([b"\x00", b"\xff\x7f", b"\x00\x80" * 3, b"\x00" * 4097]),
)


def _pipeline(folder: Path) -> AudioPipeline:
    folder.mkdir()
    log = EventLog("c1", journal=folder / "events.jsonl")
    return AudioPipeline("c1", log, recording_path=folder / "rec.wav")


def _check_summary(pipeline: AudioPipeline) -> None:
    summary = pipeline.summary()
    assert AudioSummary.model_validate_json(summary.model_dump_json()) == summary
    dumped = summary.model_dump()
    assert AudioSummary.model_validate(dumped) == summary
    assert 0 < summary.sample_rate <= MAX_SAMPLE_RATE and summary.channels in (1, 2)


@pytest.fixture(scope="module", autouse=True)
def _registered_secrets() -> None:
    """The server registers its key and HTTP token at start-up; so do these tests (process-wide, as there)."""
    install_redaction([API_KEY, HTTP_TOKEN])


def test_the_pipeline_takes_any_stream(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    counter = itertools.count()
    leaks = Leaks([API_KEY, HTTP_TOKEN])

    @fuzz(EXAMPLES)
    @given(data=st.data())
    def one_stream(data: st.DataObject) -> None:
        secrets: list[str] = []
        folder = tmp_path / f"p{next(counter)}"
        pipeline = _pipeline(folder)
        frames = data.draw(st.lists(st.one_of(binary_frames, text_frames(secrets)), min_size=1, max_size=25))
        for frame in frames:
            if isinstance(frame, bytes) and data.draw(st.booleans(), label="as text"):
                pipeline.feed_text(frame)  # a text frame's raw payload (maybe not UTF-8)
            else:
                pipeline.feed(frame)
            assert pipeline.buffer.pending_bytes < pipeline.buffer.format.bytes_per_second + 8192 + 4097
        _check_summary(pipeline)
        pipeline.finish()
        _check_summary(pipeline)
        leaks.add(*secrets)
        events = pipeline.log.read(limit=10_000).events
        assert len(events) == pipeline.log.latest_seq  # the journal has them all
        leaks.check([e.model_dump() for e in events], "the event log")
        pipeline.log.close()
        leaks.check_files(folder)

    with caplog.at_level(logging.DEBUG, logger="vapi_mcp"):
        one_stream()
    leaks.check([r.getMessage() for r in caplog.records], "the log records")


def test_memory_stays_bounded(tmp_path: Path) -> None:
    """One pipeline fed many generated streams back to back, each with a second of audio and a text frame of
    almost 1 MB: it keeps a bounded window of events and buffers, not what it was fed (~40 MB in all)."""
    pipeline = _pipeline(tmp_path / "p")
    audio = bytes(range(256)) * 250  # 64,000 bytes: 1 s of 16 kHz stereo
    big = json.dumps({"type": "conversation-update", "pad": "p" * ((1 << 20) - 100)})
    fed = 0
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()

        @fuzz(EXAMPLES // 2)
        @given(frames=st.lists(st.one_of(binary_frames, text_frames([])), min_size=5, max_size=25))
        def feed(frames: list[str | bytes]) -> None:
            nonlocal fed
            for frame in [audio, big, *frames]:
                pipeline.feed(frame)
                fed += len(frame)

        feed()
        pipeline.finish()
        gc.collect()  # the last examples' frames, still in hypothesis's reference cycles
        retained = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert fed > 30_000_000
    assert retained < 8_000_000, f"{retained / 1e6:.1f} MB retained after {fed / 1e6:.0f} MB fed"
    assert len(list(pipeline.log._window)) <= DEFAULT_WINDOW  # pyright: ignore[reportPrivateUsage]
    _check_summary(pipeline)
