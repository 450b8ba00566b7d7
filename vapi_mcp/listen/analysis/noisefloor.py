"""The noise floor of each channel: a minimum tracker over the last ~5 s of window energies.

The floor is the minimum window energy over the last ``_CHUNKS`` sub-windows of ``_CHUNK_S`` (a ring of
their minima) and the running minimum of the current one. It falls at once and rises only as old minima
leave the ring, so syllables never lift it, while a louder line is learnt within ~5 s. Digitally silent
windows (a muted or idle TTS channel) are left out, so the floor survives a mute.

Sub-windows sit on the global window grid (window ``k`` belongs to sub-window ``k // chunk``), so the floor
in force at every window is the same however the stream was cut into blocks.
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["NoiseFloor"]

_CHUNK_S = 0.5
_CHUNKS = 10


class NoiseFloor:
    """Per-channel floor tracking, vectorised over the channels and over all the windows of a block."""

    __slots__ = ("_base", "_chunk", "_piece_mins", "_quiet_e", "_ring")

    def __init__(self, channels: int, windows_per_s: float, quiet_e: float) -> None:
        self._chunk = max(1, round(_CHUNK_S * windows_per_s))  # windows per sub-window
        self._quiet_e = quiet_e  # windows quieter than this are digital silence: not tracked
        self._ring: deque[list[float]] = deque(maxlen=_CHUNKS)  # per-channel minima of past sub-windows
        self._piece_mins: list[np.ndarray] = []  # minima of the current sub-window's pieces (one per block)
        self._base = np.full(channels, np.inf)  # the floor in force before the next window

    def current(self, channel: int) -> float:
        """The floor in force now (energy units; ``inf`` before any window that is not digital silence)."""
        return float(self._base[channel])

    def floors(self, energy: np.ndarray, k: int) -> np.ndarray:
        """The floor in force at each of the windows ``energy`` (nw, ch), the first being global window ``k``.

        The result must not be modified in place: the tracker may keep a view of its last row.
        """
        nw = energy.shape[0]
        tracked = np.where(energy < self._quiet_e, np.inf, energy) if energy.min() < self._quiet_e else energy
        chunk = self._chunk
        if k % chunk == 0 and nw % chunk == 0:
            return self._whole_chunks(tracked, nw)
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

    def _whole_chunks(self, tracked: np.ndarray, nw: int) -> np.ndarray:
        """:meth:`floors` when the block is whole sub-windows on the grid (the usual 1 s block): all at once."""
        ch, chunk = tracked.shape[1], self._chunk
        run = np.minimum.accumulate(tracked.reshape(nw // chunk, chunk, ch), axis=1)
        bases: list[list[float]] = []
        base: list[float] = self._base.tolist()
        for chunk_min in run[:, -1, :].tolist():
            bases.append(base)
            self._ring.append(chunk_min)
            base = [min(column) for column in zip(*self._ring, strict=True)]
        self._base = np.array(base)
        return np.minimum(run, np.array(bases)[:, None, :]).reshape(nw, ch)
