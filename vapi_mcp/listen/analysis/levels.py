"""Window energies and sample levels: what the rest of the analysis is computed from.

A window's energy is the exact integer sum of its squared ``int16`` samples. float64 holds it exactly (a
20 ms window at 16 kHz is at most 320 * 2**30, far below 2**53), so every comparison made on energies is
the comparison of the true integers, and the result does not depend on how the stream was cut.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DB_FLOOR", "PeakMeter", "WindowEnergy", "dbfs", "window_energy_at"]

FULL_SCALE2 = 32768.0**2
DB_FLOOR = -120.0
_CLIP_LEVEL = math.ceil(32767 * 0.999)  # |x| >= 32767*0.999, in integers


def dbfs(energy_per_sample: float) -> float:
    """Mean-square (in int16 units²) → dBFS, floored at -120."""
    if energy_per_sample <= 0.0:
        return DB_FLOOR
    return max(DB_FLOOR, 10.0 * math.log10(energy_per_sample / FULL_SCALE2))


def window_energy_at(level_dbfs: float, win: int) -> float:
    """The energy of a ``win``-sample window whose mean square sits at ``level_dbfs``."""
    return win * FULL_SCALE2 * 10.0 ** (level_dbfs / 10.0)


class WindowEnergy:
    """Energies of every whole window of a block, all channels at once, in ``(channels, windows)`` order.

    No BLAS: a matrix product would sum the squares in one call, but OpenBLAS runs even these tiny products
    on several threads, which costs more CPU in all than it saves in time. Instead, a window's interleaved
    stereo squares are read as complex numbers (real: channel 0, imaginary: channel 1), so one contiguous
    reduction sums both channels of every window. The sums are of integers far below 2**53: exact in any
    order, as any other way of adding them would be.
    """

    __slots__ = ("_ch", "_win")

    def __init__(self, win: int, channels: int) -> None:
        if channels not in (1, 2):
            raise ValueError("channels must be 1 or 2")
        self._win, self._ch = win, channels

    def squares(self, x: np.ndarray, nw: int) -> np.ndarray:
        """The squared samples of ``nw`` whole windows as float64, a window per row: (nw, win*ch)."""
        sq = x.reshape(nw, self._win * self._ch).astype(np.float64)
        np.multiply(sq, sq, out=sq)
        return sq

    def of(self, sq: np.ndarray) -> np.ndarray:
        """The energies ``(channels, windows)`` of the squares from :meth:`squares` (a view for stereo)."""
        if self._ch == 1:
            return np.add.reduce(sq, axis=1)[None]
        return np.add.reduce(sq.view(np.complex128), axis=1).view(np.float64).reshape(-1, 2).T


class PeakMeter:
    """Per-channel sample peak (squared) and count of clipped samples, over the whole call."""

    __slots__ = ("_ch", "_clip2", "clipped", "peak2")

    def __init__(self, channels: int) -> None:
        self._ch = channels
        self._clip2 = float(_CLIP_LEVEL) ** 2
        self.peak2 = [0.0] * channels
        self.clipped = [0] * channels

    def update(self, x: np.ndarray, energy: np.ndarray) -> None:
        """Take the block ``x`` (``int16``, shape ``(n, channels)``) into the peaks and clip counts.

        ``energy`` is the block's window energies, ``(channels, windows)``. Most blocks need only the
        block's largest magnitude, two contiguous ``int16`` reductions: once every channel has had a louder
        sample, and none is near clipping, nothing changes. Otherwise a window's energy, which is at least
        each of its squared samples, decides per channel:

        - a channel whose windows all stay at or under its peak so far and under the clip level holds no
          sample that could change either, and is skipped;
        - when only one channel needs its peak, the block's largest magnitude, if its square is above
          every sample the other channel can hold, is that channel's own.

        Peaks are the squares of integer samples, exact in float64, so they are the same as squaring first.
        """
        ch, clip2 = self._ch, self._clip2
        top = float(max(int(x.max()), -int(x.min()))) ** 2
        if top < clip2 and top <= min(self.peak2):
            return
        emax: list[float] = energy.max(axis=1).tolist()
        scan = [c for c in range(ch) if emax[c] > self.peak2[c] or emax[c] >= clip2]
        if not scan:
            return
        if len(scan) == 1 and (ch == 1 or top > emax[1 - scan[0]]):
            self._take(x, scan[0], top)
            return
        for c in scan:
            column = x[:, c]
            self._take(x, c, float(max(int(column.max()), -int(column.min()))) ** 2)

    def _take(self, x: np.ndarray, c: int, peak: float) -> None:
        if peak > self.peak2[c]:
            self.peak2[c] = peak
        if peak >= self._clip2:  # |sample| >= _CLIP_LEVEL, in integers
            column = x[:, c]
            self.clipped[c] += int(np.count_nonzero(column >= _CLIP_LEVEL) + np.count_nonzero(column <= -_CLIP_LEVEL))
