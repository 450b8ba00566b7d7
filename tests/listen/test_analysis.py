"""AudioAnalyzer against synthetic calls with a known timeline (no sockets, no files)."""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import dataclass

import numpy as np
import pytest

from vapi_mcp.listen.analysis import PARTIES, SPARK_CHARS, AudioAnalyzer, AudioEvent, AudioSummary
from vapi_mcp.listen.frames import AudioFormat, PcmBuffer

SR = 16000
CUSTOMER, ASSISTANT = 0, 1


# ---------------------------------------------------------------------------------------------- test audio
@dataclass(frozen=True)
class Utterance:
    party: int
    start: float
    duration: float
    dbfs: float = -25.0


def noise(seconds: float, dbfs: float, rng: np.random.Generator, *, channels: int = 2, sr: int = SR) -> np.ndarray:
    """White telephony hiss at an RMS level of ``dbfs``."""
    return rng.standard_normal((round(seconds * sr), channels)) * (32768 * 10 ** (dbfs / 20))


def pink_noise(seconds: float, dbfs: float, rng: np.random.Generator, *, channels: int = 2) -> np.ndarray:
    """1/f noise in the telephone band (FFT-shaped), at an RMS level of ``dbfs``."""
    n = round(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal((n, channels)), axis=0)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    shape = np.where((freqs > 100) & (freqs < 3800), 1 / np.sqrt(np.maximum(freqs, 1.0)), 0.0)
    x = np.fft.irfft(spectrum * shape[:, None], n=n, axis=0)
    return x * (32768 * 10 ** (dbfs / 20) / np.sqrt(np.mean(x**2)))


def speech(seconds: float, dbfs: float, rng: np.random.Generator, *, sr: int = SR) -> np.ndarray:
    """Speech-like voice: a harmonic tone at 120-220 Hz, 4 Hz syllables, 50-150 ms dips between words."""
    n = round(seconds * sr)
    t = np.arange(n) / sr
    f0 = rng.uniform(120, 220)
    voice = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 6))
    envelope = 0.55 - 0.45 * np.cos(2 * np.pi * 4 * t + rng.uniform(0, 2 * np.pi))
    at = rng.uniform(0.25, 0.5)
    while at < seconds - 0.3:
        dip = rng.uniform(0.05, 0.15)
        envelope[round(at * sr) : round((at + dip) * sr)] = 0.0
        at += dip + rng.uniform(0.3, 0.8)
    ramp = min(n // 2, round(0.01 * sr))
    envelope[:ramp] *= np.linspace(0, 1, ramp)
    envelope[n - ramp :] *= np.linspace(1, 0, ramp)
    voice = voice * envelope
    rms = np.sqrt(np.mean(voice[envelope > 0.05] ** 2))
    return voice * (32768 * 10 ** (dbfs / 20) / rms)


def call_audio(
    timeline: list[Utterance], seconds: float, *, seed: int = 0, noise_dbfs: float = -50.0, channels: int = 2
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = noise(seconds, noise_dbfs, rng, channels=channels)
    for u in timeline:
        voice = speech(u.duration, u.dbfs, rng)
        start = round(u.start * SR)
        voice = voice[: len(x) - start]  # an utterance may run past the end of the audio
        x[start : start + len(voice), u.party % channels] += voice
    return to_int16(x)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def feed(analyzer: AudioAnalyzer, audio: np.ndarray, block: int = 4000) -> list[AudioEvent]:
    events: list[AudioEvent] = []
    for i in range(0, len(audio), block):
        events += analyzer.process(audio[i : i + block])
    return events


def analyse(audio: np.ndarray, block: int = 4000, **kwargs: object) -> tuple[list[AudioEvent], AudioSummary]:
    analyzer = AudioAnalyzer(AudioFormat(channels=audio.shape[1]), call_id="call-1", **kwargs)  # type: ignore[arg-type]
    events = feed(analyzer, audio, block) + analyzer.finish()
    return events, analyzer.summary()


# A short conversation: greeting, answer, the customer barges in on the assistant, dead air, a last word.
TIMELINE = [
    Utterance(ASSISTANT, 0.5, 2.5, -22),
    Utterance(CUSTOMER, 3.4, 1.6, -28),
    Utterance(ASSISTANT, 5.5, 3.0, -24),
    Utterance(CUSTOMER, 7.7, 1.8, -26),  # overlaps the assistant from 7.7 to 8.5
    Utterance(ASSISTANT, 12.5, 1.5, -22),  # after ~3 s of dead air
]
TOTAL = 15.0


def truth_talk(party: int) -> float:
    return sum(u.duration for u in TIMELINE if u.party == party)


# ---------------------------------------------------------------------------------------------- the timeline
def test_known_timeline_summary() -> None:
    events, summary = analyse(call_audio(TIMELINE, TOTAL))

    assert summary.call_id == "call-1"
    assert (summary.sample_rate, summary.channels) == (SR, 2)
    assert summary.duration_s == pytest.approx(TOTAL)
    for party in (CUSTOMER, ASSISTANT):
        stats = summary.parties[PARTIES[party]]
        assert stats.talk_s == pytest.approx(truth_talk(party), rel=0.10)
        assert stats.talk_ratio == pytest.approx(stats.talk_s / TOTAL, abs=1e-3)
        assert stats.turns == sum(1 for u in TIMELINE if u.party == party)
        assert stats.speaking is False
        assert stats.clipping_ratio == 0.0
        assert -35 < stats.mean_dbfs < -15
        assert stats.mean_dbfs < stats.peak_dbfs < -5
        assert -53 < stats.noise_floor_dbfs < -48
    assert summary.parties["assistant"].mean_dbfs > summary.parties["customer"].mean_dbfs
    assert summary.overlap_s == pytest.approx(0.8, abs=0.2)
    assert summary.interruptions == 1
    assert summary.longest_silence_s == pytest.approx(12.5 - 9.5, abs=0.3)
    assert summary.current_silence_s == pytest.approx(TOTAL - 14.0, abs=0.3)
    assert [(s.party, round(s.start_s)) for s in summary.segments] == [
        (PARTIES[u.party], round(u.start)) for u in TIMELINE
    ]
    for seg, u in zip(summary.segments, TIMELINE, strict=True):
        assert seg.start_s == pytest.approx(u.start, abs=0.15)
        assert seg.end_s == pytest.approx(u.start + u.duration, abs=0.15)

    kinds = [e.type for e in events]
    assert kinds.count("speech.started") == kinds.count("speech.stopped") == len(TIMELINE)
    assert kinds.count("overlap") == 1
    assert kinds.count("silence") == 1
    overlap = next(e for e in events if e.type == "overlap")
    assert overlap.data["interrupter"] == "customer"
    assert overlap.data["start_s"] == pytest.approx(7.7, abs=0.15)
    assert overlap.data["duration_s"] == pytest.approx(0.8, abs=0.2)
    silence = next(e for e in events if e.type == "silence")
    assert silence.data["start_s"] == pytest.approx(9.5, abs=0.3)
    assert silence.data["duration_s"] == 2.0


def test_event_order_per_party_and_in_time() -> None:
    events, _ = analyse(call_audio(TIMELINE, TOTAL))
    speaking = dict.fromkeys(PARTIES, False)
    for event in events:
        if event.type == "speech.started":
            assert not speaking[event.data["party"]]
            speaking[event.data["party"]] = True
        elif event.type == "speech.stopped":
            assert speaking[event.data["party"]]
            speaking[event.data["party"]] = False
            assert event.data["duration_s"] > 0
    assert not any(speaking.values())
    # Every event is emitted after the moment it describes has been decided, in stream order:
    starts = [e.data["at_s"] for e in events if e.type == "speech.started"]
    assert starts == sorted(starts)
    # The overlap is reported when it ends, i.e. right after the assistant's segment closes.
    i = next(i for i, e in enumerate(events) if e.type == "overlap")
    assert events[i - 1].type == "speech.stopped"
    assert events[i - 1].data["party"] == "assistant"


def test_word_gaps_of_200ms_stay_one_segment() -> None:
    rng = np.random.default_rng(7)
    x = noise(6.0, -50, rng)
    at = 0.8
    for burst in (0.4, 0.7, 0.3, 0.9, 0.5):  # five words separated by exactly 200 ms of line noise
        voice = speech(burst, -24, rng)
        x[round(at * SR) : round(at * SR) + len(voice), CUSTOMER] += voice
        at += burst + 0.2
    events, summary = analyse(to_int16(x))
    customer = summary.parties["customer"]
    assert customer.turns == 1
    assert customer.talk_s == pytest.approx(at - 0.2 - 0.8, rel=0.1)
    assert [e.type for e in events] == ["speech.started", "speech.stopped"]


def test_pause_longer_than_hangover_splits_turns() -> None:
    rng = np.random.default_rng(8)
    x = noise(5.0, -50, rng)
    for start in (0.5, 2.0):  # 1.0 s each, a 0.5 s pause between them
        voice = speech(1.0, -24, rng)
        x[round(start * SR) : round(start * SR) + len(voice), ASSISTANT] += voice
    _, summary = analyse(to_int16(x))
    assert summary.parties["assistant"].turns == 2
    assert summary.parties["customer"].turns == 0


@pytest.mark.parametrize("level", [-60.0, -50.0, -45.0])
@pytest.mark.parametrize("kind", ["white", "pink"])
def test_telephony_noise_is_never_speech(level: float, kind: str) -> None:
    rng = np.random.default_rng(3)
    x = noise(12.0, level, rng) if kind == "white" else pink_noise(12.0, level, rng)
    events, summary = analyse(to_int16(x))
    assert [e.type for e in events] == ["silence"]
    for stats in summary.parties.values():
        assert (stats.talk_s, stats.turns) == (0.0, 0)
        assert stats.noise_floor_dbfs == pytest.approx(level, abs=4)
    assert summary.longest_silence_s == summary.current_silence_s == 12.0


def test_quieter_line_after_loud_noise_and_mute_still_see_speech() -> None:
    """The floor follows the line down at once, and a digitally muted stretch does not drag it to -inf."""
    rng = np.random.default_rng(4)
    x = np.concatenate([noise(3.0, -42, rng), noise(7.0, -58, rng)])
    x[5 * SR : 8 * SR, ASSISTANT] = 0.0  # muted: exact digital silence, then the hiss is back
    voice = speech(1.0, -30, rng)
    x[3 * SR + 8000 : 3 * SR + 8000 + len(voice), CUSTOMER] += voice
    _, summary = analyse(to_int16(x))
    assert summary.parties["customer"].turns == 1
    assert summary.parties["customer"].talk_s == pytest.approx(1.0, rel=0.1)
    assert summary.parties["assistant"].turns == 0


def test_clicks_are_not_speech() -> None:
    rng = np.random.default_rng(5)
    x = noise(4.0, -50, rng)
    for at in (0.5, 1.5, 2.5):
        x[round(at * SR) : round(at * SR) + 480, CUSTOMER] += 8000 * np.sin(np.arange(480) / 3)  # 30 ms click
    events, summary = analyse(to_int16(x))
    assert summary.parties["customer"].turns == 0
    assert "speech.started" not in [e.type for e in events]


# ---------------------------------------------------------------------------------------------- silence
def test_silence_is_emitted_once_when_it_reaches_the_threshold() -> None:
    timeline = [Utterance(CUSTOMER, 3.0, 1.0), Utterance(ASSISTANT, 6.5, 1.0), Utterance(CUSTOMER, 9.0, 1.0)]
    audio = call_audio(timeline, 10.5, seed=11)
    analyzer = AudioAnalyzer(silence_threshold_s=2.0)
    per_block = [analyzer.process(audio[i : i + 4000]) for i in range(0, len(audio), 4000)]
    found = [(i, e) for i, events in enumerate(per_block) for e in events if e.type == "silence"]
    # The call opens with 3 s of nobody talking (one event, at 2.0 s: the end of block 7), then 2.5 s
    # of dead air between 4.0 and 6.5 (one event once it reaches 2 s), then 1.5 s (no event).
    assert len(found) == 2
    (block_a, first), (block_b, second) = found
    assert first.data == {"start_s": 0.0, "duration_s": 2.0}
    assert block_a == 7
    assert second.data["start_s"] == pytest.approx(4.0, abs=0.15)
    assert second.data["duration_s"] == 2.0
    assert (block_b + 1) * 0.25 == pytest.approx(second.data["start_s"] + 2.0, abs=0.26)
    summary = analyzer.summary()
    assert summary.longest_silence_s == pytest.approx(3.0, abs=0.15)
    assert summary.current_silence_s == pytest.approx(0.5, abs=0.15)


def test_voice_starting_just_before_the_threshold_is_waited_for() -> None:
    """At 2.0 s the voice that began at 1.9 s is not yet proven speech; the silence call waits for the verdict."""
    speech_at = call_audio([Utterance(CUSTOMER, 1.9, 1.0)], 4.0, seed=14)
    events, summary = analyse(speech_at)
    assert "silence" not in [e.type for e in events]
    assert summary.longest_silence_s == pytest.approx(1.9, abs=0.1)

    rng = np.random.default_rng(14)
    x = noise(4.0, -50, rng)
    x[round(1.9 * SR) : round(1.9 * SR) + 480, CUSTOMER] += 8000 * np.sin(np.arange(480) / 3)  # a click
    events, _ = analyse(to_int16(x))
    assert [(e.type, e.data) for e in events] == [("silence", {"start_s": 0.0, "duration_s": 2.0})]


def test_current_silence_is_zero_while_someone_speaks() -> None:
    audio = call_audio([Utterance(CUSTOMER, 0.5, 3.0)], 3.0)
    analyzer = AudioAnalyzer()
    feed(analyzer, audio)
    summary = analyzer.summary()
    assert summary.parties["customer"].speaking is True
    assert summary.current_silence_s == 0.0
    assert [s.model_dump() for s in summary.segments] == [
        {"party": "customer", "start_s": pytest.approx(0.5, abs=0.1), "end_s": 3.0}
    ]
    assert summary.parties["customer"].talk_s == pytest.approx(2.5, abs=0.15)


# ---------------------------------------------------------------------------------------------- levels
def test_clipping_ratio_and_peak_on_a_clipped_burst() -> None:
    rng = np.random.default_rng(6)
    x = noise(4.0, -50, rng)
    x[SR : 2 * SR, ASSISTANT] += speech(1.0, -6, rng) * 4  # far over full scale: hard clipped
    audio = to_int16(x)
    _, summary = analyse(audio)
    windowed = audio[: len(audio) // 320 * 320, ASSISTANT].astype(np.int32)
    expected = np.count_nonzero(np.abs(windowed) >= 32735) / len(windowed)
    assert expected > 0.01
    assistant = summary.parties["assistant"]
    assert assistant.clipping_ratio == pytest.approx(expected, abs=1e-6)
    assert assistant.peak_dbfs == pytest.approx(0.0, abs=0.01)
    assert summary.parties["customer"].clipping_ratio == 0.0
    assert summary.parties["customer"].peak_dbfs < -35


@pytest.mark.parametrize("block", [16000, 7919])
def test_peaks_are_each_channels_own_sample_peak(block: int) -> None:
    """The peak of each channel is its loudest sample, exactly, whatever the other channel holds in the same
    block and however small a lone click is next to the energy of speech (the analyser skips most sample
    scans: these are the cases where skipping or sharing a scan would be wrong)."""
    rng = np.random.default_rng(12)
    x = noise(6.0, -60, rng)
    x[SR // 2, CUSTOMER] = 30000  # second 0: the customer's peak so far
    x[SR + 100, CUSTOMER] = 20000  # second 1: a click under it, in the same block as the assistant's first tone
    x[SR : SR + 800, ASSISTANT] += 9000 * np.sin(np.arange(800) / 5)  # louder windows than any before, quieter samples
    x[3 * SR + 7, CUSTOMER] = -31000  # second 3: a lone click just over the peak, negative
    x[4 * SR + 9, ASSISTANT] = 12000  # second 4: the assistant's own lone click over its tone's peak
    audio = to_int16(x)
    _, summary = analyse(audio, block)
    truth = [np.abs(audio[: len(audio) // 320 * 320, c].astype(np.int64)).max() for c in (CUSTOMER, ASSISTANT)]
    assert truth == [31000, 12000]
    for c, peak in zip((CUSTOMER, ASSISTANT), truth, strict=True):
        assert summary.parties[PARTIES[c]].peak_dbfs == round(20 * np.log10(peak / 32768), 2)


def test_mean_dbfs_tracks_the_speech_level() -> None:
    quiet = analyse(call_audio([Utterance(CUSTOMER, 0.5, 2.0, -32)], 3.0, seed=1))[1]
    loud = analyse(call_audio([Utterance(CUSTOMER, 0.5, 2.0, -20)], 3.0, seed=1))[1]
    delta = loud.parties["customer"].mean_dbfs - quiet.parties["customer"].mean_dbfs
    assert delta == pytest.approx(12.0, abs=1.5)
    assert loud.parties["customer"].mean_dbfs == pytest.approx(-20, abs=3)


# ---------------------------------------------------------------------------------------------- stream shape
def test_block_size_does_not_change_anything() -> None:
    timeline = [Utterance(CUSTOMER, 0.3, 1.6), Utterance(ASSISTANT, 1.5, 1.5), Utterance(CUSTOMER, 5.0, 0.8)]
    audio = call_audio(timeline, 6.3, seed=21)
    # 8000 and 16000 samples are whole noise-floor sub-windows (the pipeline's 1 s blocks take a faster path).
    results = [analyse(audio, block) for block in (1, 333, 4000, 8000, 16000, len(audio))]
    events, summary = results[0]
    assert summary.interruptions == 1
    assert any(e.type == "silence" for e in events)
    for other_events, other_summary in results[1:]:
        assert other_summary == summary
        assert other_events == events


def test_pcm_buffer_to_analyzer_matches_direct_feed() -> None:
    audio = call_audio(TIMELINE[:3], 8.0, seed=2)
    raw = audio.tobytes()
    buffer, via_buffer = PcmBuffer(AudioFormat()), AudioAnalyzer()
    rng = np.random.default_rng(0)
    pos = 0
    while pos < len(raw):
        size = int(rng.integers(1, 3000))
        buffer.append(raw[pos : pos + size])
        pos += size
        block = buffer.take_block()
        if block is not None:
            via_buffer.process(block)
    tail = buffer.take_block(force=True)
    if tail is not None:
        via_buffer.process(tail)
    direct = AudioAnalyzer()
    direct.process(audio)
    assert via_buffer.summary() == direct.summary()


def test_skip_closes_segments_and_is_neither_talk_nor_silence() -> None:
    rng = np.random.default_rng(9)
    before = noise(3.0, -50, rng)
    voice = speech(1.5, -24, rng)
    before[round(1.5 * SR) :, CUSTOMER] += voice  # still talking when the socket drops at 3.0 s
    after = noise(1.5, -50, rng)
    analyzer = AudioAnalyzer()
    events = feed(analyzer, to_int16(before))
    assert [e.type for e in events] == ["speech.started"]
    gap_events = analyzer.skip(2.5)
    assert [e.type for e in gap_events] == ["speech.stopped"]
    assert gap_events[0].data["at_s"] == pytest.approx(3.0, abs=0.05)
    assert gap_events[0].data["duration_s"] == pytest.approx(1.5, abs=0.1)
    assert analyzer.summary().current_silence_s == 0.0  # dead air restarts after the gap
    events = feed(analyzer, to_int16(after)) + analyzer.finish()
    assert events == []  # 1.5 s of silence after the gap: under the threshold, the gap does not count
    summary = analyzer.summary()
    assert summary.duration_s == pytest.approx(3.0 + 2.5 + 1.5)
    assert summary.gaps_s == 2.5
    assert summary.current_silence_s == pytest.approx(1.5, abs=0.02)
    assert summary.longest_silence_s == pytest.approx(1.5, abs=0.1)
    assert summary.parties["customer"].talk_s == pytest.approx(1.5, abs=0.1)
    assert summary.parties["customer"].speaking is False


def test_skip_rejects_nonsense_and_a_finished_analyzer_ignores_input() -> None:
    analyzer = AudioAnalyzer()
    with pytest.raises(ValueError):
        analyzer.skip(float("nan"))
    with pytest.raises(ValueError):
        analyzer.skip(-1.0)
    analyzer.process(np.zeros((8000, 2), dtype=np.int16))
    assert analyzer.finish() == []
    assert analyzer.finish() == []
    assert analyzer.process(np.ones((8000, 2), dtype=np.int16)) == []
    assert analyzer.summary().duration_s == 0.5
    assert analyzer.summary().finished is True


def test_bad_blocks_are_refused() -> None:
    analyzer = AudioAnalyzer()
    with pytest.raises(TypeError):
        analyzer.process(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(ValueError):
        analyzer.process(np.zeros((10, 3), dtype=np.int16))
    assert analyzer.process(np.zeros((0, 2), dtype=np.int16)) == []


def test_mono_stream_reports_everyone_as_the_customer() -> None:
    timeline = [Utterance(CUSTOMER, 0.5, 1.5), Utterance(ASSISTANT, 2.5, 2.0), Utterance(CUSTOMER, 5.0, 1.0)]
    audio = call_audio(timeline, 7.0, channels=1)
    assert audio.shape == (7 * SR, 1)
    events, summary = analyse(audio)
    assert summary.channels == 1
    customer, assistant = summary.parties["customer"], summary.parties["assistant"]
    assert customer.talk_s == pytest.approx(4.5, rel=0.1)
    assert customer.turns == 3
    assert (assistant.measured, assistant.talk_s, assistant.turns) == (False, 0.0, 0)
    assert summary.sparkline["assistant"] == ""
    assert {e.data.get("party") for e in events if e.type.startswith("speech.")} == {"customer"}
    one_d = AudioAnalyzer(AudioFormat(channels=1))
    one_d.process(audio[:, 0].copy())
    one_d.finish()
    assert one_d.summary().parties == summary.parties


def test_other_sample_rate() -> None:
    rate = 8000
    rng = np.random.default_rng(12)
    x = noise(4.0, -50, rng, sr=rate)
    x[rate : 3 * rate, ASSISTANT] += speech(2.0, -25, rng, sr=rate)
    analyzer = AudioAnalyzer(AudioFormat(sample_rate=rate))
    feed(analyzer, to_int16(x), block=2000)
    analyzer.finish()
    summary = analyzer.summary()
    assert summary.sample_rate == rate
    assert summary.parties["assistant"].talk_s == pytest.approx(2.0, rel=0.1)
    assert summary.duration_s == 4.0


# ---------------------------------------------------------------------------------------------- bounded
def test_sparkline_and_timeline_stay_bounded() -> None:
    audio = call_audio(TIMELINE, TOTAL)
    _, summary = analyse(audio, max_segments=3, sparkline_width=8)
    assert [s.start_s for s in summary.segments] == pytest.approx([5.5, 7.7, 12.5], abs=0.15)
    for line in summary.sparkline.values():
        assert 4 < len(line) <= 8
        assert set(line) <= set(SPARK_CHARS)
    # 15 s at width 8: buckets of 2 s. The assistant talks through 4-6 s (bucket 2) and not at all in 10-12 s.
    assistant = summary.sparkline["assistant"]
    assert len(assistant) == 8
    assert SPARK_CHARS.index(assistant[0]) >= 5
    assert assistant[5] == SPARK_CHARS[0]
    full = analyse(audio)[1].sparkline["customer"]
    assert len(full) == 30  # 0.5 s buckets while the call fits the width


def test_two_hour_call_in_constant_memory() -> None:
    """A time-scaled stream (8 kHz, fed 10 s at a time): two hours of a 60 s conversation pattern."""
    rate, minute = 8000, 60
    rng = np.random.default_rng(13)
    x = noise(minute, -50, rng, sr=rate)
    pattern = [(ASSISTANT, 1.0, 8.0), (CUSTOMER, 10.0, 5.0), (ASSISTANT, 16.0, 20.0), (CUSTOMER, 38.0, 15.0)]
    for party, start, seconds in pattern:
        x[round(start * rate) : round((start + seconds) * rate), party] += speech(seconds, -25, rng, sr=rate)
    blocks = np.split(to_int16(x), 6)
    analyzer = AudioAnalyzer(AudioFormat(sample_rate=rate))

    tracemalloc.start()
    try:
        # Warm up until the bounded segment timeline is full and every object it holds was allocated under
        # tracing (tracemalloc cannot see the release of blocks allocated before it started).
        for block in blocks * 60:
            analyzer.process(block)
        baseline, _ = tracemalloc.get_traced_memory()
        for block in blocks * 60:
            analyzer.process(block)
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    summary = analyzer.summary()

    assert grown < 4 * 1024, f"analyzer state grew by {grown} bytes in the second hour"
    assert summary.duration_s == 2 * 3600
    assert summary.parties["customer"].turns == 240
    assert summary.parties["assistant"].turns == 240
    assert summary.parties["customer"].talk_ratio == pytest.approx(20 / 60, rel=0.1)
    assert len(summary.segments) == 200
    assert all(len(line) <= 48 for line in summary.sparkline.values())


def test_summary_dumps_to_the_design_shape() -> None:
    """DESIGN §7: the typed summary's model_dump() is the JSON object the tools return, key for key."""
    _, summary = analyse(call_audio(TIMELINE[:2], 5.0))
    data = summary.model_dump()
    assert list(data) == [
        "call_id",
        "sample_rate",
        "channels",
        "duration_s",
        "parties",
        "overlap_s",
        "longest_silence_s",
        "current_silence_s",
        "interruptions",
        "segments",
        "sparkline",
        "gaps_s",
        "finished",
    ]
    assert list(data["parties"]) == list(PARTIES) == list(data["sparkline"])
    party_keys = ["talk_s", "talk_ratio", "turns", "mean_dbfs", "peak_dbfs", "clipping_ratio", "speaking"]
    assert list(data["parties"]["customer"])[:7] == party_keys
    assert data["segments"][0].keys() == {"party", "start_s", "end_s"}
    assert json.loads(json.dumps(data)) == data
    assert AudioSummary.model_validate(data) == summary
