"""The noise floor of each channel: a minimum tracker over the last ~5 s of window energies.

The floor is the minimum window energy over the last ``_CHUNKS`` sub-windows of ``_CHUNK_S`` (a ring of
their minima) and the running minimum of the current one. It falls at once and rises only as old minima
leave the ring, so syllables never lift it, while a louder line is learnt within ~5 s. Digitally silent
windows (a muted or idle TTS channel) are left out, so the floor survives a mute.

Sub-windows sit on the global window grid (window ``k`` belongs to sub-window ``k // chunk``), so the floor
in force at every window is the same however the stream was cut into blocks.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

__all__ = ["NoiseFloor"]

_CHUNK_S = 0.5
_CHUNKS = 10


class NoiseFloor:
    """Per-channel floor tracking, vectorised over the channels and over all the windows of a block."""

    __slots__ = ("_base", "_piece_mins", "_ring_min", "_rings", "chunk", "quiet_e")

    def __init__(self, channels: int, windows_per_s: float, quiet_e: float) -> None:
        self.chunk = max(1, round(_CHUNK_S * windows_per_s))  # windows per sub-window
        self.quiet_e = quiet_e  # windows quieter than this are digital silence: not tracked
        self._rings = [deque[float](maxlen=_CHUNKS) for _ in range(channels)]  # minima of past sub-windows
        self._piece_mins: list[np.ndarray] = []  # minima of the current sub-window's pieces (one per block)
        self._ring_min = [math.inf] * channels  # the lowest of each ring
        self._base = [math.inf] * channels  # the floor in force before the next window

    def current(self, channel: int) -> float:
        """The floor in force now (energy units; ``inf`` before any window that is not digital silence)."""
        return self._base[channel]

    def floors(self, energy: np.ndarray, k: int) -> np.ndarray:
        """The floor in force at each of the windows ``energy`` (nw, ch), the first being global window ``k``.

        Any cut: a block may start or end inside a sub-window. Whole sub-windows on the grid go faster
        through :meth:`enter`, which the block engine uses for many streams at once.
        """
        nw = energy.shape[0]
        tracked = self.tracked(energy)
        chunk = self.chunk
        floors = np.empty_like(energy)
        pos = 0
        while pos < nw:
            left = chunk - k % chunk
            take = min(left, nw - pos)
            run = np.minimum.accumulate(tracked[pos : pos + take], axis=0)
            np.minimum(run, self._base, out=floors[pos : pos + take])
            self._piece_mins.append(run[-1])
            if take == left:  # this sub-window is complete: its minimum enters the ring
                chunk_min = np.minimum.reduce(self._piece_mins) if len(self._piece_mins) > 1 else run[-1]
                self.enter([chunk_min.tolist()])
                self._piece_mins = []
            else:
                self._base = np.minimum(run[-1], self._base).tolist()
            pos += take
            k += take
        return floors

    def tracked(self, energy: np.ndarray) -> np.ndarray:
        """``energy`` with digitally silent windows replaced by ``inf``, which no minimum takes."""
        return np.where(energy < self.quiet_e, np.inf, energy) if energy.min() < self.quiet_e else energy

    def enter(self, chunk_mins: list[list[float]]) -> list[list[float]]:
        """Whole sub-windows' per-channel minima enter the ring, in order; returns the floor in force before each
        (within a sub-window, the floor at a window is the lower of that and the sub-window's running minimum)."""
        bases: list[list[float]] = []
        base = self._base
        rings, lows = self._rings, self._ring_min
        for chunk_min in chunk_mins:
            bases.append(base)
            for c, (ring, low) in enumerate(zip(rings, chunk_min, strict=True)):
                leaving = ring[0] if len(ring) == _CHUNKS else math.inf
                ring.append(low)
                # The ring's minimum needs a look at all of it only when the one leaving was that minimum.
                lows[c] = min(ring) if leaving == lows[c] else min(lows[c], low)
            base = lows.copy()
        self._base = base
        return bases
