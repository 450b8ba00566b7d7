"""The audio-quality rule's window state: each window's speech level and clipping, and which party is bad now.

The audio summary is cumulative (talk time, mean level and clipped share since listening began); the rule
judges each ``window_s`` of call time on its own, so it keeps every party's running totals at the last window's
end and takes the difference. Only :class:`~vapi_mcp.supervisor.alerts.engine.AlertEngine`'s audio-quality rule
uses it; it says what went bad and the engine makes the alert. A party fires once per bad spell: it re-arms
after a window of good speech, not after a window too short of speech to judge.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from vapi_mcp.listen.analysis import AudioSummary
from vapi_mcp.supervisor.alerts.config import AudioQuality

__all__ = ["QualityProblem", "QualityWindows"]


@dataclass(frozen=True, slots=True)
class QualityProblem:
    """A party's speech went bad in the window that ended at ``end_s`` (call time)."""

    party: str
    problem: str  # how it is bad, to follow "the <party>'s speech"
    end_s: float
    mean_dbfs: float
    clipping_ratio: float


class QualityWindows:
    """The windows of one call: fed the call time on every analysed block, asks for the summary once a window."""

    def __init__(self) -> None:
        self._next: float | None = None  # call time of the next window's end
        self._prev: dict[str, tuple[float, float, float]] = {}  # party -> (talk_s, energy, clipped_s)
        self._bad: set[str] = set()

    def judge(self, params: AudioQuality, now: float, summary: Callable[[], AudioSummary]) -> list[QualityProblem]:
        """The parties whose speech went bad in the window that ended by ``now``, if one did."""
        window = params.window_s
        if self._next is None:
            self._next = (math.floor(now / window) + 1) * window
            return []
        if now < self._next:
            return []
        end = math.floor(now / window) * window
        self._next = end + window
        measured = summary()
        found: list[QualityProblem] = []
        for party, figures in measured.parties.items():
            if not figures.measured:
                continue
            talk = figures.talk_s
            energy = 10 ** (figures.mean_dbfs / 10) * talk
            clipped = figures.clipping_ratio * measured.duration_s
            prev_talk, prev_energy, prev_clipped = self._prev.get(party, (0.0, 0.0, 0.0))
            self._prev[party] = (talk, energy, clipped)
            spoke = talk - prev_talk
            if spoke < min(1.0, window / 4):
                continue  # too little speech in this window to judge
            level = 10 * math.log10(max(energy - prev_energy, 1e-30) / spoke)
            clipping = max(0.0, clipped - prev_clipped) / spoke
            problem = (
                f"clips ({clipping:.1%} of samples)"
                if clipping >= params.clipping_ratio
                else f"is too quiet ({level:.0f} dBFS)"
                if level < params.min_dbfs
                else None
            )
            if problem is None:
                self._bad.discard(party)
            elif party not in self._bad:
                self._bad.add(party)
                found.append(QualityProblem(party, problem, end, level, clipping))
        return found
