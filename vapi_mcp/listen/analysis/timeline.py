"""The call timeline: both parties' segments merged in time into dead air, overlaps and interruptions.

:class:`CallTimeline` replays the :class:`~vapi_mcp.listen.analysis.voice.Transition` records of both
channels in time order through a small state machine, and emits the call's events:

- ``speech.started`` once a segment has proved long enough, ``speech.stopped`` once its hangover has run
  out (both carry the true times);
- ``silence`` once nobody has spoken for the threshold and no candidate voice could still undo it;
- ``overlap`` when a segment ends while the other party's is open and they shared at least
  ``min_overlap``; the one who started later interrupted.

It keeps the per-party totals and a bounded deque of the most recent segments, so memory is constant.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

from vapi_mcp.listen.analysis.sparkline import Sparkline
from vapi_mcp.listen.analysis.summary import PARTIES
from vapi_mcp.listen.analysis.voice import Kind, Transition

__all__ = ["AudioEvent", "CallTimeline", "Segment"]


@dataclass(frozen=True, slots=True)
class AudioEvent:
    """One event for the call's log: its type (``speech.started``, ``silence``, …) and JSON-able data."""

    type: str
    data: dict[str, Any]


class Segment(NamedTuple):
    """A closed (or, in a summary, still open) segment of channel ``channel``: ``[start, end)`` in samples."""

    channel: int
    start: int
    end: int


class CallTimeline:
    """Who is talking, dead air, overlaps; the per-party totals of closed segments."""

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        *,
        silence_threshold_s: float,
        min_overlap_s: float,
        max_segments: int,
        sparkline: Sparkline,
    ) -> None:
        self._sr, self._ch = sample_rate, channels
        self._spark = sparkline
        self.min_overlap = round(min_overlap_s * sample_rate)
        self._silence = max(1, round(silence_threshold_s * sample_rate))
        self._silence_s = round(self._silence / sample_rate, 3)
        self._pending: list[int | None] = [None] * channels  # a candidate's start, while it may still count
        self.open: list[int | None] = [None] * channels  # the start of each party's confirmed open segment
        self.talk = [0] * channels
        self.turns = [0] * channels
        self.esum = [0.0] * channels
        self.ecount = [0] * channels
        self.sil_start: int | None = 0  # the start of the call counts as dead air
        self._sil_emitted = False
        self.longest = 0
        self.overlap = 0
        self.interruptions = 0
        self.segments: deque[Segment] = deque(maxlen=max(1, max_segments))

    def seconds(self, samples: int) -> float:
        return round(samples / self._sr, 3)

    def replay(self, transitions: list[Transition], events: list[AudioEvent]) -> None:
        """Apply transitions, already in time order, emitting the events they complete."""
        for when, kind, c, start, end, esum, count in transitions:
            self.check_silence(when, events)
            if kind == Kind.CANDIDATE:
                self._pending[c] = start
            elif kind == Kind.DISCARD:
                self._pending[c] = None
            elif kind == Kind.CONFIRM:
                self._started(c, start, events)
            else:
                self._stopped(c, start, end, esum, count, events)

    def check_silence(self, now: int, events: list[AudioEvent]) -> None:
        """Emit ``silence`` once dead air has lasted the threshold and no pending voice could still undo it."""
        start = self.sil_start
        if start is None or self._sil_emitted:
            return
        due = start + self._silence
        if now < due or any(p is not None and p < due for p in self._pending):
            return
        self._sil_emitted = True
        events.append(AudioEvent("silence", {"start_s": self.seconds(start), "duration_s": self._silence_s}))

    @property
    def silence_pending(self) -> bool:
        """Dead air is running and its ``silence`` event has not been emitted yet."""
        return self.sil_start is not None and not self._sil_emitted

    def gap(self, start: int, end: int) -> None:
        """A hole ``[start, end)`` in the stream: neither talk nor silence; dead air restarts after it."""
        if self.sil_start is not None:
            self.longest = max(self.longest, start - self.sil_start)
        self.sil_start, self._sil_emitted = end, False

    def _started(self, c: int, start: int, events: list[AudioEvent]) -> None:
        self._pending[c] = None
        self.open[c] = start
        self.turns[c] += 1
        if self.sil_start is not None:
            self.longest = max(self.longest, start - self.sil_start)
            self.sil_start = None
        events.append(AudioEvent("speech.started", {"party": PARTIES[c], "at_s": self.seconds(start)}))

    def _stopped(self, c: int, start: int, end: int, esum: float, count: int, events: list[AudioEvent]) -> None:
        self.open[c] = None
        self.talk[c] += end - start
        self.esum[c] += esum
        self.ecount[c] += count
        self.segments.append(Segment(c, start, end))
        self._spark.add(c, start, end)
        events.append(
            AudioEvent(
                "speech.stopped",
                {"party": PARTIES[c], "at_s": self.seconds(end), "duration_s": self.seconds(end - start)},
            )
        )
        other = self.open[1 - c] if self._ch == 2 else None
        if other is None:
            self.sil_start, self._sil_emitted = end, False
        elif other < end:
            at = max(start, other)
            if end - at >= self.min_overlap:
                self.overlap += end - at
                self.interruptions += 1
                interrupter = PARTIES[c] if start > other else PARTIES[1 - c]
                events.append(
                    AudioEvent(
                        "overlap",
                        {"start_s": self.seconds(at), "duration_s": self.seconds(end - at), "interrupter": interrupter},
                    )
                )
        else:  # the other party took the turn after a short pause, inside this segment's hangover
            self.longest = max(self.longest, other - end)
