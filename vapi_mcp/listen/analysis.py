"""Per-party voice activity and the audio summary of one call, computed from raw listen-stream PCM.

Sans-I/O: :class:`AudioAnalyzer` is fed ``int16`` blocks of shape ``(n, channels)`` (any length, any cut) and
returns :class:`AudioEvent` values; :meth:`AudioAnalyzer.summary` is the JSON-able summary of DESIGN §7.

How it decides who is talking (one VAD per channel; channel 0 = customer, 1 = assistant):

1. **Windows.** Audio is cut into fixed 20 ms windows on a grid that does not depend on how the stream was
   cut into blocks (a partial window is carried over to the next :meth:`~AudioAnalyzer.process` call), so
   the same audio gives the same result whatever the block sizes. Window energy is the exact integer sum of
   squares (float64 holds it exactly), computed for all windows of a block at once.
2. **Noise floor.** Per channel, a minimum tracker: the minimum window energy over the last ~5 s (ten
   0.5 s sub-minima in a ring) and the running minimum of the current 0.5 s. It falls at once and rises
   only as old minima leave the ring, so syllables never lift it, while a louder line is learnt within ~5 s.
   Digitally silent windows (muted or TTS-idle channels) are left out, so the floor survives a mute.
3. **Voiced window**: energy above ``floor + 10 dB`` *and* above an absolute -55 dBFS, so a telephony
   line hiss (-60…-45 dBFS) never counts as speech.
4. **Segments.** Voiced windows separated by less than the hangover (0.35 s) belong to one segment, so
   the pauses between words of one utterance are bridged; a segment shorter than ``min_speech_s`` is a
   click and is dropped. Runs are found with ``np.diff`` over the voiced-window indices, so Python only
   loops over segments, never over windows. A segment ends where the voice ended; ``speech.stopped`` is
   emitted once the hangover has run out, ``speech.started`` once the segment has proved long enough
   (both carry the true times).
5. **Call timeline.** Segment transitions of both parties are merged in time order and replayed through a
   small state machine that derives dead air (``silence``), overlaps and interruptions.

Mono streams carry both parties mixed: all activity is reported under ``customer`` (read it as "anyone");
the assistant party carries ``"measured": false`` and zeros, and overlaps cannot be seen.

Memory is constant however long the call: the segment timeline is a bounded deque and the sparkline merges
adjacent buckets (doubling their span) whenever the call outgrows its width.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from vapi_mcp.listen.frames import AudioFormat

__all__ = ["PARTIES", "SPARK_CHARS", "AudioAnalyzer", "AudioEvent"]

PARTIES: tuple[str, str] = ("customer", "assistant")
SPARK_CHARS = "▁▂▃▄▅▆▇█"

_FULL_SCALE2 = 32768.0**2
_DB_FLOOR = -120.0
_CLIP_LEVEL = math.ceil(32767 * 0.999)  # |x| >= 32767*0.999, in integers
_DIGITAL_SILENCE_DBFS = -90.0  # windows quieter than this are ignored by the noise-floor tracker
_FLOOR_CHUNK_S = 0.5  # the noise floor is the minimum over _FLOOR_CHUNKS sub-windows of this length (~5 s)
_FLOOR_CHUNKS = 10
_SPARK_BUCKET_S = 0.5  # initial sparkline bucket; doubles whenever the call outgrows the width

# Transition kinds, in the order they are replayed when several fall on the same instant.
_CAND, _CONFIRM, _DISCARD, _CLOSE = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class AudioEvent:
    type: str
    data: dict[str, Any]


class _Run:
    """One party's current run of voiced windows (global window indices), confirmed or still a candidate."""

    __slots__ = ("confirmed", "ecount", "esum", "is_open", "last", "start")

    def __init__(self) -> None:
        self.is_open = False
        self.confirmed = False
        self.start = 0
        self.last = 0
        self.esum = 0.0
        self.ecount = 0


def _dbfs(energy_per_sample: float) -> float:
    """Mean-square (in int16 units²) → dBFS, floored at -120."""
    if energy_per_sample <= 0.0:
        return _DB_FLOOR
    return max(_DB_FLOOR, 10.0 * math.log10(energy_per_sample / _FULL_SCALE2))


class AudioAnalyzer:
    """Voice activity per party, dead air, overlaps and the running summary of one call's audio."""

    def __init__(
        self,
        fmt: AudioFormat | None = None,
        *,
        call_id: str = "",
        silence_threshold_s: float = 2.0,
        window_s: float = 0.02,
        hangover_s: float = 0.35,
        min_speech_s: float = 0.12,
        min_overlap_s: float = 0.2,
        max_segments: int = 200,
        sparkline_width: int = 48,
        floor_margin_db: float = 10.0,
        abs_floor_dbfs: float = -55.0,
    ) -> None:
        self._fmt = fmt = fmt if fmt is not None else AudioFormat()
        self.call_id = call_id
        sr, ch = fmt.sample_rate, fmt.channels
        self._sr, self._ch = sr, ch
        self._win = win = max(1, round(window_s * sr))
        self._hang = max(0, math.ceil(round(hangover_s * sr) / win - 1e-9))
        self._min_win = max(1, math.ceil(round(min_speech_s * sr) / win - 1e-9))
        self._min_overlap = round(min_overlap_s * sr)
        self._silence = max(1, round(silence_threshold_s * sr))
        self._silence_s = round(self._silence / sr, 3)
        self._margin = 10.0 ** (floor_margin_db / 10.0)
        self._abs_e = win * _FULL_SCALE2 * 10.0 ** (abs_floor_dbfs / 10.0)
        self._quiet_e = win * _FULL_SCALE2 * 10.0 ** (_DIGITAL_SILENCE_DBFS / 10.0)
        self._clip2 = float(_CLIP_LEVEL) ** 2
        self._width = max(1, sparkline_width)
        # Sums the squared samples of each channel of a (windows, win*ch) row-major block in one matmul.
        self._chan_sum = np.zeros((win * ch, ch))
        for c in range(ch):
            self._chan_sum[c::ch, c] = 1.0

        self._carry = np.zeros((win, ch), dtype=np.int16)
        self._carry_n = 0
        self._nwin = 0  # windows analysed; window k covers samples [offset + k*win, offset + (k+1)*win)
        self._offset = 0
        self._clock = 0  # stream samples received, plus gaps
        self._gaps = 0
        self._finished = False

        self._chunk = max(1, round(_FLOOR_CHUNK_S * sr / win))
        self._ring: deque[list[float]] = deque(maxlen=_FLOOR_CHUNKS)  # per-channel minima of past sub-windows
        self._piece_mins: list[np.ndarray] = []  # minima of the current sub-window's pieces (one per block)
        self._base = np.full(ch, np.inf)  # the floor in force before the next window

        self._runs = [_Run() for _ in range(ch)]
        self._pending: list[int | None] = [None] * ch
        self._open: list[int | None] = [None] * ch
        self._talk = [0] * ch
        self._turns = [0] * ch
        self._esum = [0.0] * ch
        self._ecount = [0] * ch
        self._peak2 = [0.0] * ch
        self._clipped = [0] * ch

        self._sil_start: int | None = 0  # the start of the call counts as dead air
        self._sil_emitted = False
        self._longest = 0
        self._overlap = 0
        self._interruptions = 0
        self._segments: deque[tuple[int, int, int]] = deque(maxlen=max(1, max_segments))
        self._span = max(1, round(_SPARK_BUCKET_S * sr))
        self._buckets: list[list[int]] = [[] for _ in range(ch)]

    @property
    def format(self) -> AudioFormat:
        return self._fmt

    @property
    def duration_s(self) -> float:
        return self._clock / self._sr

    # ------------------------------------------------------------------------------------------ input
    def process(self, block: np.ndarray) -> list[AudioEvent]:
        """Analyse the next audio; returns the events it completed, in time order. Ignored after :meth:`finish`."""
        x = self._checked(block)
        n = x.shape[0]
        if n == 0 or self._finished:
            return []
        self._clock += n
        win, have = self._win, self._carry_n
        if have:
            if have + n < win:
                self._carry[have : have + n] = x
                self._carry_n = have + n
                return []
            x = np.concatenate((self._carry[:have], x))
            n += have
        nw = n // win
        used = nw * win
        self._carry_n = n - used
        if self._carry_n:
            self._carry[: self._carry_n] = x[used:]
        events: list[AudioEvent] = []
        if nw:
            self._analyse(x[:used], nw, events)
        if self._clock > self._span * self._width:
            self._grow_sparkline()
        return events

    def skip(self, duration_s: float) -> list[AudioEvent]:
        """A hole in the stream (the socket was reconnecting): ``duration_s`` of unknown audio.

        Open segments end where their voice ended, before the gap; the gap counts neither as talk nor as
        silence (dead air restarts after it), and a partial window before it is dropped.
        """
        if not math.isfinite(duration_s) or duration_s < 0:
            raise ValueError("duration_s must be a finite number >= 0")
        if self._finished:
            return []
        events: list[AudioEvent] = []
        self._flush_runs(events)
        gap_start = self._clock
        self._check_silence(gap_start, events)
        if self._sil_start is not None:
            self._longest = max(self._longest, gap_start - self._sil_start)
        gap = round(duration_s * self._sr)
        self._clock += gap
        self._gaps += gap
        self._carry_n = 0
        self._offset = self._clock - self._nwin * self._win
        self._sil_start, self._sil_emitted = self._clock, False
        self._grow_sparkline()
        return events

    def finish(self) -> list[AudioEvent]:
        """End of stream: close open segments. Idempotent."""
        if self._finished:
            return []
        events: list[AudioEvent] = []
        self._flush_runs(events)
        self._check_silence(self._clock, events)
        self._finished = True
        return events

    def _checked(self, block: np.ndarray) -> np.ndarray:
        if not isinstance(block, np.ndarray) or block.dtype != np.int16:
            raise TypeError("block must be an int16 numpy array")
        if block.ndim == 1 and self._ch == 1:
            return block.reshape(-1, 1)
        if block.ndim != 2 or block.shape[1] != self._ch:
            raise ValueError(f"block must have shape (n, {self._ch})")
        return block

    # ------------------------------------------------------------------------------------------ per window
    def _analyse(self, x: np.ndarray, nw: int, events: list[AudioEvent]) -> None:
        """All whole windows of one block: energies, floors and voiced flags vectorised, then segment runs."""
        ch = self._ch
        sq = x.reshape(nw, self._win * ch).astype(np.float64)
        np.multiply(sq, sq, out=sq)
        energy = sq @ self._chan_sum  # (nw, ch): exact integer sums of squares
        # Per-channel sample peaks (squared): reduce over windows first (numpy vectorises a reduction along
        # the outer axis well), then over each channel's columns; a (n, ch) axis-0 reduction is 10x slower.
        columns = sq.max(axis=0)
        peaks = [float(columns[c::ch].max()) for c in range(ch)]
        for c, peak in enumerate(peaks):
            if peak > self._peak2[c]:
                self._peak2[c] = peak
            if peak >= self._clip2:
                self._clipped[c] += int(np.count_nonzero(sq.reshape(-1, ch)[:, c] >= self._clip2))

        threshold = self._floors(energy, nw) * self._margin
        np.maximum(threshold, self._abs_e, out=threshold)
        voiced = energy > threshold

        k0 = self._nwin
        self._nwin = k1 = k0 + nw
        transitions: list[tuple[int, int, int, int, int, float, int]] = []
        for c in range(ch):
            idx = voiced[:, c].nonzero()[0]
            if idx.size or self._runs[c].is_open:
                self._scan(c, idx, energy[:, c], k0, k1, transitions)
        if transitions:
            transitions.sort()
            self._replay(transitions, events)
        if self._sil_start is not None and not self._sil_emitted:
            self._check_silence(self._offset + k1 * self._win, events)

    def _floors(self, energy: np.ndarray, nw: int) -> np.ndarray:
        """Noise floor (energy units) in force at each window: min(ring of past sub-minima, running minimum).

        The result must not be modified in place: ``self._base`` may be a view of its last row.
        """
        tracked = np.where(energy < self._quiet_e, np.inf, energy) if energy.min() < self._quiet_e else energy
        k, chunk = self._nwin, self._chunk
        if k % chunk == 0 and nw % chunk == 0:
            return self._floors_whole_chunks(tracked, nw)
        floors = np.empty_like(energy)
        pos = 0
        while pos < nw:
            left = chunk - k % chunk
            take = min(left, nw - pos)
            run = np.minimum.accumulate(tracked[pos : pos + take], axis=0)
            out = floors[pos : pos + take]
            np.minimum(run, self._base, out=out)
            self._piece_mins.append(run[-1])
            if take == left:  # this sub-window is complete: its minimum enters the ring
                chunk_min = np.minimum.reduce(self._piece_mins) if len(self._piece_mins) > 1 else run[-1]
                self._ring.append(chunk_min.tolist())
                self._base = np.array([min(column) for column in zip(*self._ring, strict=True)])
                self._piece_mins = []
            else:
                self._base = out[-1]
            pos += take
            k += take
        return floors

    def _floors_whole_chunks(self, tracked: np.ndarray, nw: int) -> np.ndarray:
        """:meth:`_floors` when the block is whole sub-windows on the grid (the usual 1 s block): all at once."""
        ch, chunk = self._ch, self._chunk
        run = np.minimum.accumulate(tracked.reshape(nw // chunk, chunk, ch), axis=1)
        bases: list[list[float]] = []
        base: list[float] = self._base.tolist()
        for chunk_min in run[:, -1, :].tolist():
            bases.append(base)
            self._ring.append(chunk_min)
            base = [min(column) for column in zip(*self._ring, strict=True)]
        self._base = np.array(base)
        return np.minimum(run, np.array(bases)[:, None, :]).reshape(nw, ch)

    def _scan(
        self,
        c: int,
        idx: np.ndarray,
        energy: np.ndarray,
        k0: int,
        k1: int,
        out: list[tuple[int, int, int, int, int, float, int]],
    ) -> None:
        """Extend / open / close channel ``c``'s runs with the voiced windows ``idx`` (block-local) of ``[k0, k1)``."""
        run, hang = self._runs[c], self._hang
        if idx.size and run.confirmed and run.is_open and (idx.size == 1 or k1 - k0 <= hang + 1):
            # The common case mid-utterance: a short block can hold no run break, so if its first voiced
            # window continues the open segment, they all do.
            if int(idx[0]) + k0 - run.last <= hang:
                run.last = int(idx[-1]) + k0
                run.esum += float(energy[idx].sum())
                run.ecount += idx.size
                idx = idx[:0]
        if idx.size:
            g = idx + k0
            gl: list[int] = g.tolist()
            csum: list[float] = energy[idx].cumsum().tolist()
            # A run ends wherever the next voiced window is further away than the hangover.
            ends: list[int] = ((g[1:] - g[:-1]) > hang).nonzero()[0].tolist()
            ends.append(len(gl) - 1)
            i0 = 0
            for i1 in ends:
                esum = csum[i1] - (csum[i0 - 1] if i0 else 0.0)
                if run.is_open and gl[i0] - run.last <= hang:
                    run.last = gl[i1]
                    run.esum += esum
                    run.ecount += i1 - i0 + 1
                else:
                    if run.is_open:
                        self._end_run(c, run, self._at(run.last + 1 + hang), out)
                    self._begin_run(c, run, gl[i0], gl[i1], esum, i1 - i0 + 1, out)
                if not run.confirmed and run.last >= run.start + self._min_win - 1:
                    j = gl[bisect_left(gl, run.start + self._min_win - 1, i0, i1 + 1)]
                    run.confirmed = True
                    out.append((self._at(j + 1), _CONFIRM, c, self._at(run.start), 0, 0.0, 0))
                if i1 != ends[-1]:
                    self._end_run(c, run, self._at(run.last + 1 + hang), out)
                i0 = i1 + 1
        if run.is_open and k1 - 1 - run.last >= hang:
            self._end_run(c, run, self._at(run.last + 1 + hang), out)

    def _at(self, k: int) -> int:
        """Stream time (samples) of the start of window ``k``."""
        return self._offset + k * self._win

    def _begin_run(
        self, c: int, run: _Run, first: int, last: int, esum: float, count: int, out: list[tuple[Any, ...]]
    ) -> None:
        run.is_open, run.confirmed = True, False
        run.start, run.last, run.esum, run.ecount = first, last, esum, count
        out.append((self._at(first + 1), _CAND, c, self._at(first), 0, 0.0, 0))

    def _end_run(self, c: int, run: _Run, when: int, out: list[tuple[Any, ...]]) -> None:
        run.is_open = False
        if run.confirmed:
            out.append((when, _CLOSE, c, self._at(run.start), self._at(run.last + 1), run.esum, run.ecount))
        else:
            out.append((when, _DISCARD, c, self._at(run.start), 0, 0.0, 0))

    def _flush_runs(self, events: list[AudioEvent]) -> None:
        """Close every open run now (gap or end of stream), trimmed to where its voice ended."""
        now = self._at(self._nwin)
        out: list[tuple[int, int, int, int, int, float, int]] = []
        for c, run in enumerate(self._runs):
            if run.is_open:
                self._end_run(c, run, now, out)
        out.sort()
        self._replay(out, events)

    # ------------------------------------------------------------------------------------------ call timeline
    def _replay(self, transitions: list[tuple[int, int, int, int, int, float, int]], events: list[AudioEvent]) -> None:
        for when, kind, c, start, end, esum, count in transitions:
            self._check_silence(when, events)
            if kind == _CAND:
                self._pending[c] = start
            elif kind == _DISCARD:
                self._pending[c] = None
            elif kind == _CONFIRM:
                self._started(c, start, events)
            else:
                self._stopped(c, start, end, esum, count, events)

    def _started(self, c: int, start: int, events: list[AudioEvent]) -> None:
        self._pending[c] = None
        self._open[c] = start
        self._turns[c] += 1
        if self._sil_start is not None:
            self._longest = max(self._longest, start - self._sil_start)
            self._sil_start = None
        events.append(AudioEvent("speech.started", {"party": PARTIES[c], "at_s": self._s(start)}))

    def _stopped(self, c: int, start: int, end: int, esum: float, count: int, events: list[AudioEvent]) -> None:
        self._open[c] = None
        self._talk[c] += end - start
        self._esum[c] += esum
        self._ecount[c] += count
        self._segments.append((c, start, end))
        self._spark_add(self._buckets[c], start, end)
        events.append(
            AudioEvent(
                "speech.stopped",
                {"party": PARTIES[c], "at_s": self._s(end), "duration_s": self._s(end - start)},
            )
        )
        other = self._open[1 - c] if self._ch == 2 else None
        if other is None:
            self._sil_start, self._sil_emitted = end, False
        elif other < end:
            at = max(start, other)
            if end - at >= self._min_overlap:
                self._overlap += end - at
                self._interruptions += 1
                interrupter = PARTIES[c] if start > other else PARTIES[1 - c]
                events.append(
                    AudioEvent(
                        "overlap",
                        {"start_s": self._s(at), "duration_s": self._s(end - at), "interrupter": interrupter},
                    )
                )
        else:  # the other party took the turn after a short pause, inside this segment's hangover
            self._longest = max(self._longest, other - end)

    def _check_silence(self, now: int, events: list[AudioEvent]) -> None:
        """Emit ``silence`` once dead air has lasted the threshold and no pending voice could still undo it."""
        start = self._sil_start
        if start is None or self._sil_emitted:
            return
        due = start + self._silence
        if now < due or any(p is not None and p < due for p in self._pending):
            return
        self._sil_emitted = True
        events.append(AudioEvent("silence", {"start_s": self._s(start), "duration_s": self._silence_s}))

    def _s(self, samples: int) -> float:
        return round(samples / self._sr, 3)

    # ------------------------------------------------------------------------------------------ sparkline
    def _spark_add(self, buckets: list[int], start: int, end: int) -> None:
        span = self._span
        i = start // span
        while start < end:
            part = min(end, (i + 1) * span) - start
            if len(buckets) <= i:
                buckets.extend([0] * (i + 1 - len(buckets)))
            buckets[i] += part
            start += part
            i += 1

    def _grow_sparkline(self) -> None:
        """Keep at most ``width`` buckets: merge neighbours pairwise, doubling the span."""
        while self._clock > self._span * self._width:
            self._span *= 2
            for buckets in self._buckets:
                buckets[:] = [sum(buckets[i : i + 2]) for i in range(0, len(buckets), 2)]

    def _sparkline(self, c: int, open_until: int | None) -> str:
        clock, span = self._clock, self._span
        count = -(-clock // span)
        buckets = self._buckets[c] + [0] * (count - len(self._buckets[c]))
        if open_until is not None and self._open[c] is not None:
            self._spark_add(buckets, self._open[c], open_until)
        chars = []
        for i in range(count):
            frac = buckets[i] / max(1, min(span, clock - i * span))
            chars.append(SPARK_CHARS[min(7, max(0, round(frac * 7)))])
        return "".join(chars)

    # ------------------------------------------------------------------------------------------ summary
    def summary(self) -> dict[str, Any]:
        """The audio summary of DESIGN §7 (a fresh JSON-able dict)."""
        sr, clock = self._sr, self._clock
        duration = clock / sr
        voice_end: list[int | None] = [
            self._at(self._runs[c].last + 1) if self._open[c] is not None else None for c in range(self._ch)
        ]
        parties = {name: self._party(c, duration, voice_end) for c, name in enumerate(PARTIES)}
        overlap, interruptions = self._overlap, self._interruptions
        if self._ch == 2 and voice_end[0] is not None and voice_end[1] is not None:
            ongoing = min(voice_end[0], voice_end[1]) - max(self._open[0] or 0, self._open[1] or 0)
            if ongoing >= self._min_overlap:
                overlap += ongoing
                interruptions += 1
        current = 0 if self._sil_start is None else max(0, clock - self._sil_start)
        segments = [(c, s, e) for c, s, e in self._segments]
        segments += [(c, s, clock) for c, s in enumerate(self._open) if s is not None]
        segments.sort(key=lambda seg: seg[1])
        return {
            "call_id": self.call_id,
            "sample_rate": sr,
            "channels": self._ch,
            "duration_s": round(duration, 3),
            "parties": parties,
            "overlap_s": self._s(overlap),
            "longest_silence_s": self._s(max(self._longest, current)),
            "current_silence_s": self._s(current),
            "interruptions": interruptions,
            "segments": [
                {"party": PARTIES[c], "start_s": self._s(s), "end_s": self._s(e)}
                for c, s, e in segments[-self._segments.maxlen :]  # type: ignore[misc]
            ],
            "sparkline": {
                name: self._sparkline(c, voice_end[c]) if c < self._ch else "" for c, name in enumerate(PARTIES)
            },
            "gaps_s": self._s(self._gaps),
            "finished": self._finished,
        }

    def _party(self, c: int, duration: float, voice_end: list[int | None]) -> dict[str, Any]:
        if c >= self._ch:  # mono: the one channel is reported as the customer
            return {
                "talk_s": 0.0,
                "talk_ratio": 0.0,
                "turns": 0,
                "mean_dbfs": _DB_FLOOR,
                "peak_dbfs": _DB_FLOOR,
                "clipping_ratio": 0.0,
                "speaking": False,
                "measured": False,
                "noise_floor_dbfs": None,
            }
        talk, esum, ecount = self._talk[c], self._esum[c], self._ecount[c]
        start, end = self._open[c], voice_end[c]
        if start is not None and end is not None:
            run = self._runs[c]
            talk += end - start
            esum += run.esum
            ecount += run.ecount
        samples = self._nwin * self._win
        floor = float(self._base[c])
        return {
            "talk_s": self._s(talk),
            "talk_ratio": round(talk / self._sr / duration, 4) if duration > 0 else 0.0,
            "turns": self._turns[c],
            "mean_dbfs": round(_dbfs(esum / (ecount * self._win)) if ecount else _DB_FLOOR, 2),
            "peak_dbfs": round(_dbfs(self._peak2[c]), 2),
            "clipping_ratio": round(self._clipped[c] / samples, 6) if samples else 0.0,
            "speaking": start is not None,
            "measured": True,
            "noise_floor_dbfs": round(_dbfs(floor / self._win), 2) if math.isfinite(floor) else None,
        }
