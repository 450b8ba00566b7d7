"""Voice runs: per channel, voiced windows grouped into segments, announced as timed transitions.

Voiced windows separated by less than the hangover belong to one segment, so the pauses between the words
of one utterance are bridged; a segment shorter than ``min_win`` windows is a click and is dropped. Runs
are found from the voiced windows' indices, so Python loops over segments, never over windows.

Each channel's changes come out as :class:`Transition` records carrying the stream time at which they are
known (a candidate once its first window is in, confirmed once it has proved long enough, closed or
discarded once the hangover has run out) and the true times they describe. The call timeline replays the
transitions of both channels merged in time order.
"""

from __future__ import annotations

from bisect import bisect_left
from enum import IntEnum
from typing import NamedTuple

import numpy as np

__all__ = ["Kind", "Transition", "VoiceRun", "VoiceRuns"]


class Kind(IntEnum):
    """What a transition says; when several fall on the same instant they are replayed in this order."""

    CANDIDATE = 0  # voice began at ``start``: a segment if it lasts
    CONFIRM = 1  # the candidate lasted ``min_win`` windows: speech started at ``start``
    DISCARD = 2  # the candidate ended too soon: a click
    CLOSE = 3  # the confirmed segment ``[start, end)`` ended


class Transition(NamedTuple):
    """One channel's segment changing state at stream time ``when`` (samples). Sorts in replay order."""

    when: int
    kind: Kind
    channel: int
    start: int
    end: int = 0
    energy: float = 0.0  # CLOSE: the sum of its voiced windows' energies
    windows: int = 0  # CLOSE: how many voiced windows it had


class VoiceRun:
    """One channel's current run of voiced windows (global window indices), confirmed or still a candidate."""

    __slots__ = ("confirmed", "ecount", "esum", "is_open", "last", "start")

    def __init__(self) -> None:
        self.is_open = False
        self.confirmed = False
        self.start = 0
        self.last = 0
        self.esum = 0.0
        self.ecount = 0


class VoiceRuns:
    """The runs of every channel. ``offset`` is the stream time (samples) of window 0; a gap moves it."""

    __slots__ = ("_min_win", "_win", "hang", "offset", "runs")

    def __init__(self, channels: int, win: int, hang: int, min_win: int) -> None:
        self._win, self.hang, self._min_win = win, hang, min_win
        self.offset = 0
        self.runs = [VoiceRun() for _ in range(channels)]

    def at(self, k: int) -> int:
        """Stream time (samples) of the start of window ``k``."""
        return self.offset + k * self._win

    def voice_end(self, c: int) -> int:
        """Stream time at which channel ``c``'s current run's voice ended (so far)."""
        return self.at(self.runs[c].last + 1)

    def scan(self, c: int, idx: np.ndarray, energy: np.ndarray, k0: int, k1: int, out: list[Transition]) -> None:
        """Extend / open / close channel ``c``'s runs with the voiced windows ``idx`` (block-local) of ``[k0, k1)``."""
        n = idx.size
        if n:
            first, last = int(idx[0]) + k0, int(idx[-1]) + k0
            if self.continues(c, first, last, n):
                # Added in order, as the general path adds them: alike even if the sum were beyond 2**53.
                esum = float(energy[idx].cumsum()[-1])
                self.extend(c, last, esum, n)
            else:
                self._runs_of(c, self.runs[c], idx, energy, k0, out)
        self.settle(c, k1, out)

    def continues(self, c: int, first: int, last: int, n: int) -> bool:
        """Whether ``n`` voiced windows from ``first`` to ``last`` all extend channel ``c``'s open, confirmed run.

        They do if the first is within the hangover of the run and no two of them are further apart than
        the hangover. The unvoiced windows between ``first`` and ``last`` total ``last - first + 1 - n``; a
        gap longer than the hangover needs at least ``hang`` of them, so fewer proves there is none without
        looking at the gaps one by one (the usual 1 s block in the middle of an utterance). When this says
        no, the general path finds the same runs the long way.
        """
        run = self.runs[c]
        if not (run.is_open and run.confirmed) or first - run.last > self.hang:
            return False
        return n == 1 or last - first + 1 - n < self.hang

    def advance(self, c: int, n: int, first: int, last: int, esum: float, k1: int, out: list[Transition]) -> bool:
        """A block's ``n`` voiced windows of channel ``c`` (``first`` to ``last``, total energy ``esum``,
        the block ending at window ``k1``) when they need no run-finding: none, or all extending the open run.
        ``False`` if they need :meth:`scan` instead (then nothing was changed)."""
        if n:
            if not self.continues(c, first, last, n):
                return False
            self.extend(c, last, esum, n)
        self.settle(c, k1, out)
        return True

    def extend(self, c: int, last: int, esum: float, n: int) -> None:
        """Add ``n`` voiced windows, the last being ``last``, of total energy ``esum`` to the open run."""
        run = self.runs[c]
        run.last = last
        run.esum += esum
        run.ecount += n

    def settle(self, c: int, k1: int, out: list[Transition]) -> None:
        """Close channel ``c``'s open run if its hangover has run out by window ``k1`` (the end of a block)."""
        run = self.runs[c]
        if run.is_open and k1 - 1 - run.last >= self.hang:
            self._end(c, run, self.at(run.last + 1 + self.hang), out)

    def _runs_of(
        self, c: int, run: VoiceRun, idx: np.ndarray, energy: np.ndarray, k0: int, out: list[Transition]
    ) -> None:
        """The general case: the voiced windows split into runs wherever they are further apart than the hangover."""
        hang = self.hang
        g = idx + k0
        gl: list[int] = g.tolist()
        csum: list[float] = energy[idx].cumsum().tolist()
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
                    self._end(c, run, self.at(run.last + 1 + hang), out)
                self._begin(c, run, gl[i0], gl[i1], esum, i1 - i0 + 1, out)
            if not run.confirmed and run.last >= run.start + self._min_win - 1:
                j = gl[bisect_left(gl, run.start + self._min_win - 1, i0, i1 + 1)]
                run.confirmed = True
                out.append(Transition(self.at(j + 1), Kind.CONFIRM, c, self.at(run.start)))
            if i1 != ends[-1]:
                self._end(c, run, self.at(run.last + 1 + hang), out)
            i0 = i1 + 1

    def flush(self, k: int, out: list[Transition]) -> None:
        """Close every open run at the start of window ``k`` (a gap or the end of the stream)."""
        now = self.at(k)
        for c, run in enumerate(self.runs):
            if run.is_open:
                self._end(c, run, now, out)

    def _begin(
        self, c: int, run: VoiceRun, first: int, last: int, esum: float, count: int, out: list[Transition]
    ) -> None:
        run.is_open, run.confirmed = True, False
        run.start, run.last, run.esum, run.ecount = first, last, esum, count
        out.append(Transition(self.at(first + 1), Kind.CANDIDATE, c, self.at(first)))

    def _end(self, c: int, run: VoiceRun, when: int, out: list[Transition]) -> None:
        run.is_open = False
        if run.confirmed:
            out.append(Transition(when, Kind.CLOSE, c, self.at(run.start), self.at(run.last + 1), run.esum, run.ecount))
        else:
            out.append(Transition(when, Kind.DISCARD, c, self.at(run.start)))
