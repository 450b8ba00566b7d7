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
    """Energies of every whole window of a block, all channels at once."""

    __slots__ = ("_ch", "_chan_sum", "_win")

    def __init__(self, win: int, channels: int) -> None:
        self._win, self._ch = win, channels
        # Sums the squared samples of each channel of a (windows, win*ch) row-major block in one matmul.
        self._chan_sum = np.zeros((win * channels, channels))
        for c in range(channels):
            self._chan_sum[c::channels, c] = 1.0

    def __call__(self, x: np.ndarray, nw: int) -> tuple[np.ndarray, np.ndarray]:
        """``(squares, energy)`` of ``nw`` whole windows: squares (nw, win*ch), energy (nw, ch), float64."""
        sq = x.reshape(nw, self._win * self._ch).astype(np.float64)
        np.multiply(sq, sq, out=sq)
        return sq, sq @ self._chan_sum


class PeakMeter:
    """Per-channel sample peak (squared) and count of clipped samples, over the whole call."""

    __slots__ = ("_ch", "_clip2", "clipped", "peak2")

    def __init__(self, channels: int) -> None:
        self._ch = channels
        self._clip2 = float(_CLIP_LEVEL) ** 2
        self.peak2 = [0.0] * channels
        self.clipped = [0] * channels

    def update(self, sq: np.ndarray) -> None:
        """Take the squared samples ``sq`` (rows of interleaved channels) into the peaks and clip counts."""
        ch = self._ch
        # Reduce over windows first (numpy vectorises a reduction along the outer axis well), then over each
        # channel's columns; a (n, ch) axis-0 reduction is 10x slower.
        columns = sq.max(axis=0)
        peaks = [float(columns[c::ch].max()) for c in range(ch)]
        for c, peak in enumerate(peaks):
            if peak > self.peak2[c]:
                self.peak2[c] = peak
            if peak >= self._clip2:
                self.clipped[c] += int(np.count_nonzero(sq.reshape(-1, ch)[:, c] >= self._clip2))
