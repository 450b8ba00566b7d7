"""AudioAnalyzer: one call's audio in, events and the running summary out (sans-I/O).

It cuts the stream into fixed windows on a grid that does not depend on how the stream was cut into
blocks (a partial window is carried over to the next :meth:`AudioAnalyzer.process` call), so the same audio
gives the same result whatever the block sizes, and composes the parts: window energies and levels, the
noise floor, voice runs, the call timeline and the sparkline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vapi_mcp.listen.analysis.blocks import Measure, Stream, decide, measure
from vapi_mcp.listen.analysis.levels import DB_FLOOR, PeakMeter, WindowEnergy, dbfs, window_energy_at
from vapi_mcp.listen.analysis.noisefloor import NoiseFloor
from vapi_mcp.listen.analysis.sparkline import Sparkline
from vapi_mcp.listen.analysis.summary import PARTIES, AudioSummary, PartySummary, SpeechSegment
from vapi_mcp.listen.analysis.timeline import AudioEvent, CallTimeline, Segment
from vapi_mcp.listen.analysis.voice import Transition, VoiceRuns
from vapi_mcp.listen.frames import AudioFormat

__all__ = ["AudioAnalyzer", "MeasuredBlock"]

_DIGITAL_SILENCE_DBFS = -90.0  # windows quieter than this are ignored by the noise-floor tracker
_UNMEASURED = PartySummary(
    talk_s=0.0,
    talk_ratio=0.0,
    turns=0,
    mean_dbfs=DB_FLOOR,
    peak_dbfs=DB_FLOOR,
    clipping_ratio=0.0,
    speaking=False,
    measured=False,
    noise_floor_dbfs=None,
)


@dataclass(frozen=True, slots=True)
class MeasuredBlock:
    """A block :meth:`AudioAnalyzer.measure` took in, waiting for :meth:`AudioAnalyzer.decide_many`."""

    analyzer: AudioAnalyzer
    windows: Measure | None  # None: the block completed no window
    clock: int  # the stream's length once this block was in


class AudioAnalyzer:
    """Voice activity per party, dead air, overlaps and the running summary of one call's audio.

    Fed ``int16`` blocks of shape ``(n, channels)`` (any length, any cut); returns :class:`AudioEvent`
    values. A window is voiced when its energy is above ``floor + floor_margin_db`` *and* above
    ``abs_floor_dbfs``, so a telephony line hiss (-60…-45 dBFS) never counts as speech.
    """

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
        win = max(1, round(window_s * sr))
        hang = max(0, math.ceil(round(hangover_s * sr) / win - 1e-9))
        min_win = max(1, math.ceil(round(min_speech_s * sr) / win - 1e-9))

        self._carry = np.zeros((win, ch), dtype=np.int16)
        self._carry_n = 0
        self._clock = 0  # stream samples received, plus gaps
        self._gaps = 0
        self._finished = False

        self._spark = Sparkline(sr, ch, sparkline_width)
        # Window k covers stream samples [runs.offset + k*win, runs.offset + (k+1)*win).
        self._stream = Stream(
            win=win,
            channels=ch,
            margin=10.0 ** (floor_margin_db / 10.0),
            abs_e=window_energy_at(abs_floor_dbfs, win),
            energy=WindowEnergy(win, ch),
            peaks=PeakMeter(ch),
            floor=NoiseFloor(ch, sr / win, window_energy_at(_DIGITAL_SILENCE_DBFS, win)),
            runs=VoiceRuns(ch, win, hang, min_win),
            timeline=CallTimeline(
                sr,
                ch,
                silence_threshold_s=silence_threshold_s,
                min_overlap_s=min_overlap_s,
                max_segments=max_segments,
                sparkline=self._spark,
            ),
        )
        self._peaks, self._floor = self._stream.peaks, self._stream.floor
        self._runs, self._timeline = self._stream.runs, self._stream.timeline

    @property
    def format(self) -> AudioFormat:
        return self._fmt

    @property
    def duration_s(self) -> float:
        return self._clock / self._sr

    @property
    def silence_since_s(self) -> float | None:
        """When the dead air now running began (call time), or None while someone speaks."""
        start = self._timeline.sil_start
        return None if start is None else start / self._sr

    # ------------------------------------------------------------------------------------------ input
    def process(self, block: np.ndarray) -> list[AudioEvent]:
        """Analyse the next audio; returns the events it completed, in time order. Ignored after :meth:`finish`."""
        measured = self.measure(block)
        return AudioAnalyzer.decide_many([measured])[0] if measured is not None else []

    @staticmethod
    def process_many(blocks: Sequence[tuple[AudioAnalyzer, np.ndarray]]) -> list[list[AudioEvent]]:
        """:meth:`process` of each ``(analyzer, block)`` in order, the deciding vectorised over the analyzers.

        The result, each block's events, is exactly that of the calls one by one.
        """
        checked = [(analyzer, analyzer._checked(block)) for analyzer, block in blocks]  # before any state moves
        return AudioAnalyzer.decide_many([analyzer.measure(block) for analyzer, block in checked])

    def measure(self, block: np.ndarray) -> MeasuredBlock | None:
        """The first half of :meth:`process`: take the block in and do its per-sample work (energies, peaks).

        ``None`` if there is nothing to decide. A measured block must be decided (:meth:`decide_many`), in
        order, before anything else is asked of this analyzer; other blocks may be measured meanwhile.
        """
        x = self._windows(self._checked(block))
        if x is None:
            return None
        return MeasuredBlock(self, measure(self._stream, x) if x.shape[0] else None, self._clock)

    @staticmethod
    def decide_many(measured: Sequence[MeasuredBlock | None]) -> list[list[AudioEvent]]:
        """The second half of :meth:`process` for each measured block: its events, in order.

        A round decides the next block of every analyzer at once (an analyzer's later blocks wait for the
        next round), so the more calls have a block ready, the less each one costs (see :mod:`.blocks`).
        """
        results: list[list[AudioEvent]] = [[] for _ in measured]
        pending = [(i, m) for i, m in enumerate(measured) if m is not None]
        while pending:
            now: list[tuple[int, MeasuredBlock]] = []
            later: list[tuple[int, MeasuredBlock]] = []
            seen: set[int] = set()
            for item in pending:
                key = id(item[1].analyzer)
                (later if key in seen else now).append(item)
                seen.add(key)
            jobs = [(i, m.windows) for i, m in now if m.windows is not None]
            for (i, _), events in zip(jobs, decide([windows for _, windows in jobs]), strict=True):
                results[i] = events
            for _, m in now:
                m.analyzer._refit(m.clock)
            pending = later
        return results

    def _refit(self, clock: int) -> None:
        """After a block: keep the sparkline within its width for a call ``clock`` samples long."""
        if self._spark.outgrown(clock):
            self._spark.fit(clock)

    def _windows(self, x: np.ndarray) -> np.ndarray | None:
        """Take ``x`` into the stream; the whole windows it completes (with the carried partial one).

        ``None`` when it only added to the partial window (or was ignored): then, as ever, the sparkline is
        not refitted until a later block.
        """
        n = x.shape[0]
        if n == 0 or self._finished:
            return None
        self._clock += n
        win, have = self._stream.win, self._carry_n
        if have:
            if have + n < win:
                self._carry[have : have + n] = x
                self._carry_n = have + n
                return None
            x = np.concatenate((self._carry[:have], x))
            n += have
        used = n // win * win
        self._carry_n = n - used
        if self._carry_n:
            self._carry[: self._carry_n] = x[used:]
        return x[:used]

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
        self._timeline.check_silence(gap_start, events)
        gap = round(duration_s * self._sr)
        self._clock += gap
        self._gaps += gap
        self._timeline.gap(gap_start, self._clock)
        self._carry_n = 0
        self._runs.offset = self._clock - self._stream.nwin * self._stream.win
        self._spark.fit(self._clock)
        return events

    def finish(self) -> list[AudioEvent]:
        """End of stream: close open segments. Idempotent."""
        if self._finished:
            return []
        events: list[AudioEvent] = []
        self._flush_runs(events)
        self._timeline.check_silence(self._clock, events)
        self._finished = True
        return events

    def _checked(self, block: np.ndarray) -> np.ndarray:
        # The annotation says ndarray, but the block comes from callers' code at run time: check it anyway.
        if not isinstance(block, np.ndarray) or block.dtype != np.int16:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError("block must be an int16 numpy array")
        if block.ndim == 1 and self._ch == 1:
            return block.reshape(-1, 1)
        if block.ndim != 2 or block.shape[1] != self._ch:
            raise ValueError(f"block must have shape (n, {self._ch})")
        return block

    # ------------------------------------------------------------------------------------------ per block
    def _flush_runs(self, events: list[AudioEvent]) -> None:
        """Close every open run now (gap or end of stream), trimmed to where its voice ended."""
        out: list[Transition] = []
        self._runs.flush(self._stream.nwin, out)
        out.sort()
        self._timeline.replay(out, events)

    # ------------------------------------------------------------------------------------------ summary
    def summary(self) -> AudioSummary:
        """The audio summary of DESIGN §7, a fresh snapshot (``model_dump()`` is the JSON object)."""
        sr, clock, tl = self._sr, self._clock, self._timeline
        duration = clock / sr
        voice_end = [self._runs.voice_end(c) if tl.open[c] is not None else None for c in range(self._ch)]
        overlap, interruptions = tl.overlap, tl.interruptions
        if self._ch == 2 and voice_end[0] is not None and voice_end[1] is not None:
            ongoing = min(voice_end[0], voice_end[1]) - max(tl.open[0] or 0, tl.open[1] or 0)
            if ongoing >= tl.min_overlap:
                overlap += ongoing
                interruptions += 1
        current = 0 if tl.sil_start is None else max(0, clock - tl.sil_start)
        segments = list(tl.segments)
        segments += [Segment(c, s, clock) for c, s in enumerate(tl.open) if s is not None]
        segments.sort(key=lambda seg: seg.start)
        return AudioSummary(
            call_id=self.call_id,
            sample_rate=sr,
            channels=self._ch,
            duration_s=round(duration, 3),
            parties={name: self._party(c, duration, voice_end) for c, name in enumerate(PARTIES)},
            overlap_s=tl.seconds(overlap),
            longest_silence_s=tl.seconds(max(tl.longest, current)),
            current_silence_s=tl.seconds(current),
            interruptions=interruptions,
            segments=[
                SpeechSegment(party=PARTIES[seg.channel], start_s=tl.seconds(seg.start), end_s=tl.seconds(seg.end))
                for seg in segments[-(tl.segments.maxlen or 1) :]
            ],
            sparkline={name: self._sparkline(c, voice_end) for c, name in enumerate(PARTIES)},
            gaps_s=tl.seconds(self._gaps),
            finished=self._finished,
        )

    def _sparkline(self, c: int, voice_end: list[int | None]) -> str:
        if c >= self._ch:
            return ""
        start, end = self._timeline.open[c], voice_end[c]
        return self._spark.render(c, self._clock, (start, end) if start is not None and end is not None else None)

    def _party(self, c: int, duration: float, voice_end: list[int | None]) -> PartySummary:
        if c >= self._ch:  # mono: the one channel is reported as the customer
            return _UNMEASURED
        tl = self._timeline
        talk, esum, ecount = tl.talk[c], tl.esum[c], tl.ecount[c]
        start, end = tl.open[c], voice_end[c]
        if start is not None and end is not None:
            run = self._runs.runs[c]
            talk += end - start
            esum += run.esum
            ecount += run.ecount
        samples = self._stream.nwin * self._stream.win
        floor = self._floor.current(c)
        return PartySummary(
            talk_s=tl.seconds(talk),
            talk_ratio=round(talk / self._sr / duration, 4) if duration > 0 else 0.0,
            turns=tl.turns[c],
            mean_dbfs=round(dbfs(esum / (ecount * self._stream.win)) if ecount else DB_FLOOR, 2),
            peak_dbfs=round(dbfs(self._peaks.peak2[c]), 2),
            clipping_ratio=round(self._peaks.clipped[c] / samples, 6) if samples else 0.0,
            speaking=start is not None,
            measured=True,
            noise_floor_dbfs=round(dbfs(floor / self._stream.win), 2) if math.isfinite(floor) else None,
        )
