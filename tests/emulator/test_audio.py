"""CallAudio: synthetic call audio, text frames and control side effects, without any I/O."""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import pytest

from vapi_mcp.emulator.audio import ODD_SIZES, CallAudio
from vapi_mcp.emulator.scenario import Scenario, get_scenario, ground_truth, long_call

SR = 16000
WIN = 320  # 20 ms
ROLE = {"user": "customer", "assistant": "assistant"}


def _pcm(data: bytes, channels: int = 2) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").reshape(-1, channels).astype(np.float64)


def _dbfs(x: np.ndarray) -> float:
    return float(20 * np.log10(max(np.sqrt(np.mean(x**2)), 1e-9) / 32768))


def _window_dbfs(x: np.ndarray) -> np.ndarray:
    n = len(x) // WIN * WIN
    return 20 * np.log10(np.maximum(np.sqrt(np.mean(x[:n].reshape(-1, WIN) ** 2, axis=1)), 1e-9) / 32768)


def _play(audio: CallAudio, until_s: float, chunk: int = WIN) -> tuple[np.ndarray, list[tuple[float, dict[str, Any]]]]:
    """Render up to ``until_s`` in ``chunk``-sample steps, collecting text frames with the time they came due."""
    out, frames = [], []
    while audio.position_s < until_s - 1e-9:
        out.append(audio.render(min(chunk, round(until_s * SR) - round(audio.position_s * SR))))
        frames += [(audio.position_s, f) for f in audio.due_text_frames()]
    return _pcm(b"".join(out), audio.scenario.channels), frames


def _samples(seconds: float) -> int:
    return round(seconds * SR)


def test_levels_and_noise_floor() -> None:
    scenario = get_scenario("support-call")
    pcm, _ = _play(CallAudio(scenario), scenario.duration_s)
    assert len(pcm) == _samples(scenario.duration_s)
    for u in scenario.utterances:
        ch = 0 if u.party == "customer" else 1
        speech = pcm[_samples(u.start_s) : _samples(u.end_s), ch]
        assert abs(_dbfs(speech) - u.level_dbfs) < 3
        assert np.abs(speech).max() < 32767  # no clipping at these levels
    pause = pcm[_samples(5.05) : _samples(6.45)]  # nobody speaks from 5.0 to 6.5
    for ch in (0, 1):
        assert abs(_dbfs(pause[:, ch]) - scenario.noise_dbfs) < 3
    assert abs(_dbfs(pcm[: _samples(2.5), 0]) - scenario.noise_dbfs) < 3  # customer silent while the assistant greets
    # The two channels carry different noise (not one signal copied).
    assert abs(np.corrcoef(pause[:, 0], pause[:, 1])[0, 1]) < 0.1


def test_speech_is_voiced_in_the_expected_pitch_range() -> None:
    scenario = get_scenario("support-call")
    pcm, _ = _play(CallAudio(scenario), scenario.duration_s)
    for u, low, high in ((scenario.utterances[1], 150, 250), (scenario.utterances[0], 100, 160)):
        ch = 0 if u.party == "customer" else 1
        x = pcm[_samples(u.start_s) : _samples(u.end_s), ch]
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        freqs = np.fft.rfftfreq(len(x), 1 / SR)
        band = (freqs > 80) & (freqs < 300)
        assert low <= freqs[band][np.argmax(spectrum[band])] <= high


@pytest.mark.parametrize("name", ["support-call", "long-call"])
def test_speech_starts_and_ends_on_the_script_with_only_short_word_gaps(name: str) -> None:
    scenario = get_scenario(name)
    pcm, _ = _play(CallAudio(scenario), scenario.duration_s, chunk=8000)
    floor = scenario.noise_dbfs + 6
    gaps_seen = 0
    for u in scenario.utterances:
        ch = 0 if u.party == "customer" else 1
        a, b = _samples(u.start_s), _samples(u.end_s)
        assert _window_dbfs(pcm[a : a + WIN, ch])[0] > floor + 10  # speech from the first 20 ms
        assert _window_dbfs(pcm[b - WIN : b, ch])[0] > floor + 10  # ... to the last
        assert _window_dbfs(pcm[a - WIN : a, ch])[0] < floor  # and not a window before
        assert _window_dbfs(pcm[b : b + WIN, ch])[0] < floor  # nor after
        quiet = _window_dbfs(pcm[a:b, ch]) < floor
        run = longest = 0
        for q in quiet:
            run = run + 1 if q else 0
            longest = max(longest, run)
        assert longest * WIN / SR <= 0.2, f"{u.text!r} has a {longest * 20} ms gap"
        gaps_seen += int(longest > 0)
    assert gaps_seen >= len(scenario.utterances) // 2  # words are separated


def test_chunking_does_not_change_the_bytes() -> None:
    scenario = get_scenario("support-call")  # 12 s: also crosses the 8.2 s noise loop wrap
    total = _samples(scenario.duration_s)
    one = CallAudio(scenario).render(total)
    small = CallAudio(scenario)
    assert b"".join(small.render(160) for _ in range(total // 160)) == one
    rng = random.Random(1)
    odd, parts, done = CallAudio(scenario), [], 0
    while done < total:
        n = min(total - done, rng.choice([0, 1, 3, 157, 320, 4801]))
        parts.append(odd.render(n))
        done += n
    assert b"".join(parts) == one
    assert len(one) == total * 4


def test_mono_mixes_both_parties() -> None:
    scenario = get_scenario("quick").model_copy(update={"channels": 1})
    mono = CallAudio(scenario).render(_samples(scenario.duration_s))
    assert len(mono) == _samples(scenario.duration_s) * 2
    pcm = _pcm(mono, 1)[:, 0]
    for u in scenario.utterances:
        assert abs(_dbfs(pcm[_samples(u.start_s) : _samples(u.end_s)]) - u.level_dbfs) < 3


def test_determinism_per_seed() -> None:
    scenario = get_scenario("quick")
    assert CallAudio(scenario).render(40000) == CallAudio(scenario).render(40000)
    other = CallAudio(scenario.model_copy(update={"seed": 1})).render(40000)
    assert other != CallAudio(scenario).render(40000)


def test_mute_silences_only_that_channel_from_now_on() -> None:
    scenario = get_scenario("support-call")
    reference, _ = _play(CallAudio(scenario), scenario.duration_s)
    audio = CallAudio(scenario)
    before, frames = _play(audio, 4.0)  # the customer is past the middle of a sentence (2.6-5.0)
    audio.mute("customer")
    frames += [(audio.position_s, f) for f in audio.due_text_frames()]
    after, more = _play(audio, scenario.duration_s)
    frames += more
    pcm = np.concatenate([before, after])
    assert np.array_equal(pcm[:, 1], reference[:, 1])  # the assistant's channel is untouched
    assert np.array_equal(pcm[: _samples(4.0)], reference[: _samples(4.0)])
    assert abs(_dbfs(pcm[_samples(4.0) :, 0]) - scenario.noise_dbfs) < 3  # customer: noise only, to the end
    # The listen side is told the customer stopped, with what was heard of the sentence.
    customer = [(t, f) for t, f in frames if f["role"] == "user"]
    assert [f.get("status") or f["transcriptType"] for _, f in customer] == ["started", "partial", "stopped", "final"]
    assert customer[2][0] == pytest.approx(4.0)
    said = scenario.utterances[1].text.split()
    assert customer[3][1]["transcript"] == " ".join(said[: len(customer[3][1]["transcript"].split())])
    assert len(customer[3][1]["transcript"].split()) < len(said)
    timeline = audio.actual_timeline()
    customer_heard = [u for u in timeline if u.party == "customer"]
    assert len(customer_heard) == 1
    assert customer_heard[0].start_s == pytest.approx(2.6) and customer_heard[0].end_s == pytest.approx(4.0)
    truth = audio.actual_ground_truth()
    assert truth.parties["customer"].talk_s == pytest.approx(1.4)
    assert truth.overlap_s == 0 and truth.interruptions == 0
    silent = [u for u in audio.actual_timeline(include_silent=True) if not u.audible]
    assert [(u.start_s, round(u.end_s, 6)) for u in silent] == [(4.0, 5.0), (7.9, 9.3)]


def test_unmute_resumes_mid_utterance() -> None:
    scenario = get_scenario("support-call")
    audio = CallAudio(scenario)
    _play(audio, 3.0)
    audio.mute("customer")
    _play(audio, 4.0)
    audio.unmute("customer")
    audio.unmute("customer")  # idempotent
    pcm, frames = _play(audio, 5.0)
    assert _dbfs(pcm[:, 0]) > scenario.noise_dbfs + 15
    assert [f.get("status") for _, f in frames if f["type"] == "speech-update"] == ["started", "stopped"]
    heard = [(u.start_s, round(u.end_s, 6)) for u in audio.actual_timeline() if u.party == "customer"]
    assert heard == [(2.6, 3.0), (4.0, 5.0)]
    with pytest.raises(ValueError):
        audio.mute("operator")  # type: ignore[arg-type]


def test_say_adds_assistant_speech_and_defers_the_script() -> None:
    scenario = get_scenario("support-call")
    audio = CallAudio(scenario)
    _play(audio, 5.2)  # in the long pause
    text = "Let me check that for you."
    seconds = audio.say(text)
    assert seconds == pytest.approx(0.065 * len(text))
    pcm, frames = _play(audio, 12.0)
    said = pcm[: _samples(seconds), 1]
    assert abs(_dbfs(said) - (-24)) < 3
    timeline = audio.actual_timeline()
    injected = next(u for u in timeline if u.text == text)
    assert injected.party == "assistant" and injected.start_s == pytest.approx(5.2)
    # The scripted line due at 6.5 would collide: it follows the say after a short pause.
    deferred = next(u for u in timeline if u.text == scenario.utterances[2].text)
    assert deferred.start_s == pytest.approx(5.2 + seconds + 0.4)
    finals = [f["transcript"] for _, f in frames if f.get("transcriptType") == "final"]
    assert finals[0] == text
    assert audio.duration_s > scenario.duration_s
    assert audio.actual_ground_truth().parties["assistant"].turns == 4
    # Bounds of the duration rule.
    assert audio.say("Hi") == pytest.approx(0.6)
    assert audio.say("x" * 500) == pytest.approx(8.0)


def test_say_during_assistant_speech_waits_for_it() -> None:
    scenario = get_scenario("quick")  # the assistant speaks 0.2-1.4
    audio = CallAudio(scenario)
    _play(audio, 0.5)
    audio.say("One more thing.")
    assert audio.assistant_busy_until_s == pytest.approx(1.4 + 0.065 * 15)
    _play(audio, 4.0)
    starts = [u.start_s for u in audio.actual_timeline() if u.party == "assistant"]
    assert starts == pytest.approx([0.2, 1.4])


def test_say_while_assistant_muted_is_silent_but_recorded() -> None:
    scenario = get_scenario("quick")
    audio = CallAudio(scenario)
    _play(audio, 1.5)
    audio.mute("assistant")
    seconds = audio.say("You cannot hear this.")
    pcm, frames = _play(audio, 1.5 + seconds)
    assert abs(_dbfs(pcm[:, 1]) - scenario.noise_dbfs) < 3
    assert not [f for _, f in frames if f["role"] == "assistant"]
    assert all(u.text != "You cannot hear this." for u in audio.actual_timeline())
    silent = [u for u in audio.actual_timeline(include_silent=True) if not u.audible]
    assert [u.text for u in silent] == ["You cannot hear this."]


def test_text_frames_follow_the_script() -> None:
    scenario = get_scenario("support-call")
    _, frames = _play(CallAudio(scenario), scenario.duration_s + 0.5, chunk=777)
    truth = ground_truth(scenario)
    events = [(f"speech.{f['status']}", ROLE[f["role"]]) for _, f in frames if f["type"] == "speech-update"]
    assert events == truth.events
    finals = [(f["role"], f["transcript"]) for _, f in frames if f.get("transcriptType") == "final"]
    assert finals == truth.transcripts
    times = [t for t, _ in frames]
    assert times == sorted(times)
    late = 777 / SR + 1e-9  # a frame comes due with the first render that reaches its moment
    for u in scenario.utterances:
        mine = [(t, f) for t, f in frames if ROLE[f["role"]] == u.party and u.start_s < t <= u.end_s + late]
        assert [f.get("status") or f["transcriptType"] for _, f in mine] == ["started", "partial", "stopped", "final"]
        (started, _), (partial, partial_frame), (stopped, _), (final, final_frame) = mine
        assert started <= u.start_s + late
        assert u.start_s + u.duration_s / 2 < partial <= u.start_s + u.duration_s / 2 + late
        assert u.end_s <= stopped == final <= u.end_s + late
        words = u.text.split()
        assert partial_frame["transcript"] == " ".join(words[: len(words) // 2])
        assert final_frame["transcript"] == u.text


def test_text_frames_do_not_depend_on_chunking_and_can_be_off() -> None:
    scenario = get_scenario("quick")
    _, fine = _play(CallAudio(scenario), scenario.duration_s, chunk=1)
    _, coarse = _play(CallAudio(scenario), scenario.duration_s, chunk=5000)
    assert [f for _, f in fine] == [f for _, f in coarse]
    _, none = _play(CallAudio(scenario.model_copy(update={"transcripts": False})), scenario.duration_s)
    assert {f["type"] for _, f in none} == {"speech-update"}


def test_done_and_end() -> None:
    scenario = get_scenario("quick")
    audio = CallAudio(scenario)
    _play(audio, scenario.duration_s - 0.02)
    assert not audio.done
    _play(audio, scenario.duration_s)
    assert audio.done
    assert audio.actual_ground_truth() == ground_truth(scenario)

    open_ended = CallAudio(get_scenario("open-ended"))
    _play(open_ended, 30.0, chunk=16000)
    assert not open_ended.done
    open_ended.say("Still there?")
    _play(open_ended, 30.5)
    open_ended.end()  # mid-say: the speech stops here
    frames = open_ended.due_text_frames()
    assert frames[-2:] == [
        {"type": "speech-update", "status": "stopped", "role": "assistant"},
        {"type": "transcript", "role": "assistant", "transcriptType": "final", "transcript": "Still"},
    ]
    assert open_ended.done
    tail, later = _play(open_ended, 32.0)
    assert abs(_dbfs(tail) - open_ended.scenario.noise_dbfs) < 3 and not later
    open_ended.say("ignored")
    assert open_ended.actual_timeline()[-1].end_s == pytest.approx(30.5)


def test_format_frame_and_chunk_sizes() -> None:
    audio = CallAudio(get_scenario("quick"))
    assert audio.format_frame() == {
        "type": "start",
        "encoding": "linear16",
        "container": "raw",
        "sampleRate": 16000,
        "channels": 2,
    }
    sizes = audio.chunk_sizes()
    assert [next(sizes) for _ in range(3)] == [1280] * 3
    odd = CallAudio(get_scenario("quick").model_copy(update={"odd_sizes": True})).chunk_sizes()
    first = [next(odd) for _ in range(2 * len(ODD_SIZES))]
    assert first == list(ODD_SIZES) * 2
    assert any(s % 4 for s in first) and any(s % 2 for s in first)


def test_render_speed(capsys: pytest.CaptureFixture[str]) -> None:
    """Report the cost of one 20 ms frame; assert only loosely (machines differ)."""
    figures = {}
    for label, scenario in (
        ("support-call (cached waves)", get_scenario("support-call")),
        ("long-call 120 s, fresh seed", long_call(120.0, seed=random.randrange(1 << 30))),
    ):
        audio = CallAudio(scenario)
        frames = int(scenario.duration_s * 50)
        t0 = time.thread_time()  # this thread's CPU: other processes (xdist workers) loading the machine do not count
        for _ in range(frames):
            audio.render(WIN)
            audio.due_text_frames()
        figures[label] = (time.thread_time() - t0) / frames * 1e6
    with capsys.disabled():
        print("\nCallAudio 20 ms frame: " + ", ".join(f"{k}: {v:.1f} µs" for k, v in figures.items()))
    assert max(figures.values()) < 500


def test_rejects_negative_render() -> None:
    audio = CallAudio(Scenario(name="empty", utterances=[]))
    assert audio.render(0) == b""
    with pytest.raises(ValueError):
        audio.render(-1)
    assert audio.duration_s == 1.0
