"""Analysing a recording again after a restart: the same state as the live analysis, gaps and stale headers too."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from vapi_mcp.listen.analysis import AudioAnalyzer
from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.pipeline import AudioPipeline
from vapi_mcp.listen.recorder import WavRecorder, recording_layout, repair_wav, tail_wav
from vapi_mcp.listen.replay import Gap, gaps_from_events, replay_recording

RATE = 16000


def talk(seconds: float, seed: int) -> np.ndarray:
    """Stereo audio with turns: each party speaks (a tone) for ~1 s in turn, line hiss between."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    out = rng.normal(0, 20, (n, 2))
    for c, (freq, phase) in enumerate(((220.0, 0.0), (330.0, 1.1))):
        on = ((t + phase) // 1.1 % 2 == 0)[:, None].squeeze()
        out[:, c] += on * 6000 * np.sin(2 * np.pi * freq * t)
    return out.astype(np.int16)


def live_pipeline(path: Path, blocks: list[np.ndarray | float]) -> AudioPipeline:
    """A pipeline fed ``blocks`` as the listen socket would: audio as bytes, a float is a reconnect gap."""
    pipeline = AudioPipeline("call-1", EventLog("call-1", journal=path.with_suffix(".jsonl")), recording_path=path)
    for item in blocks:
        if isinstance(item, float):
            pipeline.gap(item)
        else:
            for frame in np.array_split(item, max(1, len(item) // 320)):  # 20 ms frames, odd cuts
                pipeline.feed(frame.tobytes())
    pipeline.pause()  # what a stopped session leaves (the recording flushed)
    return pipeline


def test_replay_gives_the_live_state_with_gaps_skipped(tmp_path: Path) -> None:
    path = tmp_path / "recording.wav"
    live = live_pipeline(path, [talk(7.3, 1), 2.5, talk(4.1, 2), 0.75, talk(3.0, 3)])
    logged = live.log.read(limit=10_000, types=["listen.gap"]).events
    gaps = gaps_from_events(e.data for e in logged)
    assert [g.seconds for g in gaps] == [2.5, 0.75]

    again = AudioAnalyzer(call_id="call-1")
    replay_recording(again, path, recording_layout(path), gaps)
    again.skip(0.0)  # what the live pipeline's pause() did at the end (a restart's gap does it too)
    want, got = live.analyzer.summary(), again.summary()
    assert got == want, "the analyzer is exact whatever the cut, and the gaps are skipped as gaps"
    assert got.gaps_s == pytest.approx(3.25, abs=1e-3) and got.parties["customer"].turns >= 5

    taken_for_silence = AudioAnalyzer(call_id="call-1")
    replay_recording(taken_for_silence, path, recording_layout(path), [])
    assert taken_for_silence.summary().gaps_s == 0 != want.gaps_s, "without the gap events the zeros are audio"


def test_resume_after_restart_counts_the_time_missed_as_a_restart_gap(tmp_path: Path) -> None:
    path = tmp_path / "recording.wav"
    first = live_pipeline(path, [talk(5.0, 4)])
    heard = first.analyzer.summary()
    log = EventLog("call-1", journal=tmp_path / "recording.jsonl")  # the same journal, reopened
    second = AudioPipeline("call-1", log, recording_path=path)
    second.resume_after_restart([], missed_s=3.0)
    resumed = second.summary()
    assert resumed.duration_s == heard.duration_s
    for party in ("customer", "assistant"):  # all but ``speaking``: pause() closed the open turn first
        got, want = resumed.parties[party], heard.parties[party]
        assert (got.talk_s, got.turns, got.mean_dbfs) == (want.talk_s, want.turns, want.mean_dbfs)
    before = log.latest_seq
    second.feed(talk(1.0, 5).tobytes())
    gap = log.read(after_seq=before, types=["listen.gap"]).events[0].data
    assert gap["reason"] == "restart" and gap["from_s"] == pytest.approx(5.0) and gap["gap_s"] >= 3.0
    second.finish()
    assert recording_layout(path).data_bytes == round((6.0 + gap["gap_s"]) * RATE) * 4, "recording on call time"


def test_a_header_left_stale_by_a_kill_is_read_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / "recording.wav"
    audio = talk(2.0, 6)
    audio[0] = np.frombuffer(b"LIST", dtype="<i2")  # audio that looks like a chunk id must not end the data
    with WavRecorder(path) as recorder:
        recorder.write(audio)
    with open(path, "r+b") as f:  # the sizes as a kill between the audio and the header update leaves them
        f.seek(4)
        f.write(struct.pack("<I", 36))
        f.seek(40)
        f.write(struct.pack("<I", 0))
        f.seek(0, 2)
        f.write(b"\x01\x02")  # and half a frame
    layout = recording_layout(path)
    assert layout.data_bytes == audio.nbytes and layout.sample_rate == RATE and layout.channels == 2
    repair_wav(path)
    head = path.read_bytes()[:44]
    assert struct.unpack_from("<I", head, 40)[0] == audio.nbytes
    assert struct.unpack_from("<I", head, 4)[0] == 36 + audio.nbytes
    assert tail_wav(path, 10.0)[44:] == audio.tobytes()


def test_a_file_that_is_not_our_recording_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "recording.wav"
    path.write_bytes(b"not a wav at all")
    with pytest.raises(ValueError):
        recording_layout(path)
    log = EventLog("call-1")
    pipeline = AudioPipeline("call-1", log, recording_path=path)
    pipeline.resume_after_restart([Gap(1.0, 2.0)], missed_s=1.0)  # logged, not raised: the summary restarts
    assert pipeline.summary().duration_s == 0.0


def test_malformed_gap_events_are_ignored() -> None:
    events = [{"from_s": 1.0, "gap_s": 2.0}, {"from_s": "x", "gap_s": 1}, {"gap_s": 1.0}, {"from_s": -1, "gap_s": 1}]
    assert gaps_from_events(events) == [Gap(1.0, 2.0)]
