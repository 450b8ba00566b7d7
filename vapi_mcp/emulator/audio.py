"""The audio and text side of a listen stream, sans I/O: a :class:`CallAudio` per call.

The emulator's I/O layer asks for the next samples (:meth:`CallAudio.render`) and for the JSON text frames
that came due meanwhile (:meth:`CallAudio.due_text_frames`), and forwards control messages as side effects
(:meth:`~CallAudio.mute`, :meth:`~CallAudio.say`, :meth:`~CallAudio.end`). Everything is a function of
the scenario and of the *sample position* at which each side effect arrived, never of the wall clock or of
how rendering was chunked, so a test can replay a call exactly and compare the listen side's measurements
with :meth:`CallAudio.actual_ground_truth`.

How the audio is made, and why it is cheap to stream, is :mod:`vapi_mcp.emulator.synth`.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vapi_mcp.emulator.scenario import PARTIES, VAPI_ROLE, GroundTruth, Party, Scenario, Utterance, truth_of
from vapi_mcp.emulator.synth import NOISE_LOOP, WAVES, WaveSpec, noise_loop

__all__ = ["ODD_SIZES", "CallAudio"]

logger = logging.getLogger(__name__)

ODD_SIZES = (1, 1279, 1283, 3, 640, 2561)  # message sizes that ignore sample (and frame) boundaries
SAY_S_PER_CHAR = 0.065
SAY_MIN_S, SAY_MAX_S = 0.6, 8.0
DEFER_GAP_S = 0.4  # a scripted assistant line pushed back by a say resumes this long after it

# --- the call --------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Voice:
    """One utterance as scheduled in this call (scripted, or injected by ``say``), in samples."""

    party: Party
    text: str
    start: int
    length: int
    level_dbfs: float
    spec: WaveSpec
    scripted: bool
    version: int = 0  # bumped when a say pushes the voice back: its queued text events go stale
    open_at: int | None = None  # start of the audible piece in progress
    pieces: list[tuple[int, int]] = field(default_factory=list[tuple[int, int]])  # audible pieces already closed
    wave: np.ndarray | None = None  # held only while the voice is being rendered

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def channel(self) -> int:
        return 0 if self.party == "customer" else 1

    def words_within(self, start: int, end: int) -> str:
        """The words heard in [start, end): each word owns an equal share of the utterance, judged by its centre."""
        words = self.text.split()
        share = self.length / max(1, len(words))
        return " ".join(w for i, w in enumerate(words) if start <= self.start + (i + 0.5) * share < end)


# Text event kinds, in the order they go out when they fall on the same sample: a stop before a start.
_END, _START, _PARTIAL = 0, 1, 2


class CallAudio:
    """One call's listen stream: stereo PCM (ch0 customer, ch1 assistant) plus its JSON text frames."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._sr = scenario.sample_rate
        self._pos = 0
        self._ended = False
        self._muted: dict[str, bool] = dict.fromkeys(PARTIES, False)
        self._noise_i, self._noise_f = noise_loop(self._sr, scenario.noise_dbfs, scenario.channels)
        # The seed picks where this call reads the shared noise loop and what each party's voice sounds like:
        # a woman's-range customer and a man's-range assistant, so the two channels are easy to tell apart.
        rng = random.Random(f"call:{scenario.seed}")
        self._noise_offset = rng.randrange(NOISE_LOOP)
        self._timbre = {
            "customer": (rng.uniform(185, 215), rng.uniform(4.8, 6.2), rng.uniform(0.01, 0.02)),
            "assistant": (rng.uniform(115, 140), rng.uniform(4.8, 6.2), rng.uniform(0.01, 0.02)),
        }
        base = (1.0, 0.55, 0.4, 0.28, 0.18)
        self._harmonics = {p: tuple(round(a * rng.uniform(0.8, 1.2), 3) for a in base) for p in PARTIES}
        assistant_levels = [u.level_dbfs for u in scenario.utterances if u.party == "assistant"]
        self._say_level = assistant_levels[-1] if assistant_levels else -24.0
        self._says = 0
        self._say_free_at = 0  # sample at which the last queued say ends
        self._voices: list[_Voice] = []  # every voice, for the timeline
        self._pending: list[_Voice] = []  # not yet rendered, by start
        self._active: list[_Voice] = []  # overlapping the render position
        self._events: list[tuple[int, int, int, _Voice, int]] = []  # heap of (sample, kind, seq, voice, version)
        self._seq = itertools.count()
        self._outbox: list[dict[str, Any]] = []
        for index, u in enumerate(scenario.utterances):
            start, length = round(u.start_s * self._sr), max(1, round(u.duration_s * self._sr))
            self._add_voice(u.party, u.text, start, length, u.level_dbfs, (scenario.seed, 1, index), scripted=True)
        self._tail = round(scenario.tail_s * self._sr)
        self._end_sample = max((v.end for v in self._voices), default=0) + self._tail

    # --- public state ---------------------------------------------------------------------------------------

    @property
    def position_s(self) -> float:
        return self._pos / self._sr

    @property
    def duration_s(self) -> float:
        """When the script (plus any said speech, plus the tail) is over; the call then ends if end_when_done."""
        return self._end_sample / self._sr

    @property
    def done(self) -> bool:
        return self._ended or (self.scenario.end_when_done and self._pos >= self._end_sample)

    @property
    def frame_samples(self) -> int:
        return self.scenario.frame_samples

    @property
    def assistant_busy_until_s(self) -> float:
        """When everything the assistant is saying or queued to say now ends (end-call-after-spoken waits for it)."""
        ends = [v.end for v in self._active + self._pending if v.party == "assistant" and v.start <= self._pos]
        return max([self._pos, self._say_free_at, *ends]) / self._sr

    def format_frame(self) -> dict[str, Any]:
        """The optional leading text frame announcing the PCM format (as Vapi's custom-transcriber socket does)."""
        return {
            "type": "start",
            "encoding": "linear16",
            "container": "raw",
            "sampleRate": self._sr,
            "channels": self.scenario.channels,
        }

    def chunk_sizes(self) -> Iterator[int]:
        """Sizes to cut the concatenated PCM into messages: odd ones with ``odd_sizes``, else whole frames."""
        if self.scenario.odd_sizes:
            return itertools.cycle(ODD_SIZES)
        return itertools.repeat(self.frame_samples * self.scenario.channels * 2)

    # --- audio ----------------------------------------------------------------------------------------------

    def render(self, n_frames: int) -> bytes:
        """The next ``n_frames`` sample frames as s16le (interleaved when stereo), advancing the position."""
        if n_frames < 0:
            raise ValueError("n_frames must be >= 0")
        start, stop = self._pos, self._pos + n_frames
        self._pos = stop
        pending = self._pending
        while pending and pending[0].start < stop:
            self._active.append(pending.pop(0))
        muted = self._muted
        speaking = [v for v in self._active if not muted[v.party]] if not self._ended else []
        at = (self._noise_offset + start) % NOISE_LOOP
        if not speaking:
            out = (
                self._noise_i[at : at + n_frames]
                if at + n_frames <= NOISE_LOOP
                else self._noise_wrap(self._noise_i, at, n_frames)
            )
            pcm = out.tobytes()
        else:
            buf = (
                self._noise_f[at : at + n_frames].copy()
                if at + n_frames <= NOISE_LOOP
                else self._noise_wrap(self._noise_f, at, n_frames)
            )
            stereo = buf.ndim == 2
            for v in speaking:
                a, b = max(v.start, start), min(v.end, stop)
                if a >= b:
                    continue
                wave = v.wave
                if wave is None:
                    wave = v.wave = WAVES.get(v.spec)
                if stereo:
                    buf[a - start : b - start, v.channel] += wave[a - v.start : b - v.start]
                else:
                    buf[a - start : b - start] += wave[a - v.start : b - v.start]
            np.clip(buf, -32768, 32767, out=buf)
            pcm = buf.astype("<i2").tobytes()
        if self._active and any(v.end <= stop for v in self._active):
            for v in self._active:
                if v.end <= stop:
                    v.wave = None
            self._active = [v for v in self._active if v.end > stop]
        return pcm

    @staticmethod
    def _noise_wrap(loop: np.ndarray, at: int, n: int) -> np.ndarray:
        return np.take(loop, np.arange(at, at + n), axis=0, mode="wrap")

    # --- side effects of control messages -------------------------------------------------------------------

    def mute(self, party: Party) -> None:
        """From now on ``party``'s channel carries only the noise floor (what Vapi's mute-* controls do)."""
        self._check_party(party)
        self._catch_up()
        if self._muted[party] or self._ended:
            self._muted[party] = True
            return
        self._muted[party] = True
        for v in self._active:
            if v.party == party and v.open_at is not None:
                self._close(v, self._pos)

    def unmute(self, party: Party) -> None:
        """``party`` is audible again from now on, mid-utterance included."""
        self._check_party(party)
        self._catch_up()
        if not self._muted[party]:
            return
        self._muted[party] = False
        for v in self._active:
            if v.party == party and v.start < self._pos < v.end:
                self._push(self._pos, _START, v)  # resumes once its first sample is out, like a start

    def say(self, text: str) -> float:
        """Queue assistant speech now, or right after the assistant's current speech; returns its duration.

        Scripted assistant lines that would collide are pushed back to follow it. While the assistant is muted
        the speech takes its time but is not heard (it is then absent from :meth:`actual_timeline`, and shows
        as ``audible=False`` with ``include_silent``).
        """
        seconds = min(SAY_MAX_S, max(SAY_MIN_S, SAY_S_PER_CHAR * len(text.strip())))
        self._catch_up()
        if self._ended:
            return seconds
        busy = [v.end for v in self._active if v.party == "assistant"]
        start = max([self._pos, self._say_free_at, *busy])
        self._says += 1
        voice = self._add_voice(
            "assistant", text, start, round(seconds * self._sr), self._say_level, (self.scenario.seed, 2, self._says)
        )
        self._say_free_at = voice.end
        cursor = voice.end + round(DEFER_GAP_S * self._sr)
        self._pending.sort(key=lambda v: v.start)
        for v in self._pending:
            if v.party != "assistant" or not v.scripted or v.end <= voice.start:
                continue
            if v.start >= cursor:
                break
            v.start, v.version = cursor, v.version + 1
            self._schedule(v)
            cursor = v.end + round(DEFER_GAP_S * self._sr)
        self._pending.sort(key=lambda v: v.start)
        self._end_sample = max(self._end_sample, max(v.end for v in self._voices) + self._tail)
        return seconds

    def end(self) -> None:
        """The call is over: speech in progress stops here, nothing more is said, and :attr:`done` is True."""
        self._catch_up()
        if self._ended:
            return
        for v in self._active:
            if v.open_at is not None:
                self._close(v, self._pos)
        self._ended = True
        self._events.clear()

    # --- text frames ----------------------------------------------------------------------------------------

    def due_text_frames(self) -> list[dict[str, Any]]:
        """JSON text frames whose moment the audio has reached since the last call, in order."""
        self._catch_up()
        if not self._outbox:
            return []
        out, self._outbox = self._outbox, []
        return out

    def _catch_up(self) -> None:
        """Run text events up to the position: a start once its first sample is out, an end once its last is."""
        events, pos = self._events, self._pos
        while events and (events[0][0] < pos or (events[0][0] == pos and events[0][1] == _END)):
            at, kind, _, v, version = heapq.heappop(events)
            if version != v.version or self._ended:
                continue
            if kind == _START:
                if not self._muted[v.party] and v.open_at is None:
                    v.open_at = at
                    self._emit_speech(v, "started")
            elif kind == _PARTIAL:
                if self.scenario.transcripts and v.open_at == v.start:
                    words = v.text.split()
                    self._emit_transcript(v, "partial", " ".join(words[: max(1, len(words) // 2)]))
            elif v.open_at is not None:
                self._close(v, v.end)

    def _close(self, v: _Voice, at: int) -> None:
        assert v.open_at is not None
        v.pieces.append((v.open_at, at))
        self._emit_speech(v, "stopped")
        text = v.words_within(v.open_at, at)
        v.open_at = None
        if self.scenario.transcripts and text:
            self._emit_transcript(v, "final", text)

    def _emit_speech(self, v: _Voice, status: str) -> None:
        self._outbox.append({"type": "speech-update", "status": status, "role": VAPI_ROLE[v.party]})

    def _emit_transcript(self, v: _Voice, kind: str, text: str) -> None:
        self._outbox.append(
            {"type": "transcript", "role": VAPI_ROLE[v.party], "transcriptType": kind, "transcript": text}
        )

    # --- ground truth of what was heard ----------------------------------------------------------------------

    def actual_timeline(self, *, include_silent: bool = False) -> list[Utterance]:
        """What was really audible up to now: scripted speech minus muted parts, plus said speech, in order.

        With ``include_silent``, the muted stretches come too, as ``audible=False`` utterances.
        """
        self._catch_up()
        out: list[Utterance] = []
        for v in self._voices:
            if v.start >= self._pos:
                continue
            heard = v.pieces + ([(v.open_at, min(v.end, self._pos))] if v.open_at is not None else [])
            spans = [(a, b, True) for a, b in heard]
            if include_silent:
                cursor = v.start
                for a, b in [*heard, (min(v.end, self._pos), min(v.end, self._pos))]:
                    if a > cursor:
                        spans.append((cursor, a, False))
                    cursor = max(cursor, b)
            for a, b, audible in spans:
                if b > a:
                    out.append(self._utterance(v, a, b, audible))
        return sorted(out, key=lambda u: (u.start_s, u.party))

    def actual_ground_truth(self) -> GroundTruth:
        """:func:`~vapi_mcp.emulator.scenario.ground_truth` of :meth:`actual_timeline`, over the call so far."""
        return truth_of(self.actual_timeline(), self.position_s)

    def _utterance(self, v: _Voice, a: int, b: int, audible: bool) -> Utterance:
        text = v.text if (a, b) == (v.start, v.end) else v.words_within(a, b)
        return Utterance(
            party=v.party,
            start_s=a / self._sr,
            duration_s=(b - a) / self._sr,
            text=text,
            level_dbfs=v.level_dbfs,
            audible=audible,
        )

    # --- scheduling -----------------------------------------------------------------------------------------

    def _add_voice(
        self,
        party: Party,
        text: str,
        start: int,
        length: int,
        level: float,
        seed: tuple[int, ...],
        *,
        scripted: bool = False,
    ) -> _Voice:
        f0, vibrato_hz, vibrato_depth = self._timbre[party]
        spec = WaveSpec(self._sr, length, f0, self._harmonics[party], vibrato_hz, vibrato_depth, level, seed)
        voice = _Voice(party, text, start, length, level, spec, scripted)
        self._voices.append(voice)
        bisect.insort(self._pending, voice, key=lambda v: v.start)
        self._schedule(voice)
        return voice

    def _schedule(self, v: _Voice) -> None:
        self._push(v.start, _START, v)
        self._push(v.start + v.length // 2, _PARTIAL, v)
        self._push(v.end, _END, v)

    def _push(self, at: int, kind: int, v: _Voice) -> None:
        heapq.heappush(self._events, (at, kind, next(self._seq), v, v.version))

    @staticmethod
    def _check_party(party: str) -> None:
        if party not in PARTIES:
            raise ValueError(f"party must be 'customer' or 'assistant', not {party!r}")
