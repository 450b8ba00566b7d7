"""The analysis of whole windows, a block at a time, vectorised over every stream that has a block ready.

numpy costs per call, not per sample: a 1 s block is ~30 calls of a microsecond or two each, as much again
as the arithmetic on its 16,000 samples. A process that listens to hundreds of calls has many blocks ready
at each turn of its event loop, and :func:`analyse` takes them together: energies, floors and voiced flags
are computed for up to :data:`GROUP` blocks per numpy call, and only the per-call state (the noise floor's
ring, open runs, the timeline) is updated one stream at a time, in Python.

The result is exactly that of analysing each block alone, in order, because the vectorised steps are
elementwise or per-row (the same floating-point operations on the same values) and the sums they take are
sums of integers far below 2**53, which float64 adds exactly in any order. A block that does not start on
the noise floor's sub-window grid, or is too long for that guarantee, takes the general per-block path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vapi_mcp.listen.analysis.levels import PeakMeter, WindowEnergy
from vapi_mcp.listen.analysis.noisefloor import NoiseFloor
from vapi_mcp.listen.analysis.timeline import AudioEvent, CallTimeline
from vapi_mcp.listen.analysis.voice import Transition, VoiceRuns

__all__ = ["GROUP", "Stream", "analyse"]

GROUP = 32
"""Blocks per vectorised step at most (each block's float64 squares are dropped as soon as it has its energies)."""

_EXACT_SAMPLES = 1 << 23  # a block of fewer samples per channel sums its squares (< 2**30 each) below 2**53


@dataclass(slots=True, eq=False)
class Stream:
    """One call's analysis state, as the block engine reads and updates it (owned by its AudioAnalyzer)."""

    win: int
    channels: int
    margin: float  # a window is voiced above floor * margin ...
    abs_e: float  # ... and above this energy
    energy: WindowEnergy
    peaks: PeakMeter
    floor: NoiseFloor
    runs: VoiceRuns
    timeline: CallTimeline
    nwin: int = 0  # windows analysed so far

    def group_key(self, nw: int) -> tuple[float, ...] | None:
        """Streams whose next ``nw`` windows can be analysed in one vectorised step share a key; ``None`` when
        this block needs the general path (not whole sub-windows on the grid, or too long to sum exactly)."""
        chunk = self.floor.chunk
        if self.nwin % chunk or nw % chunk or nw * self.win >= _EXACT_SAMPLES:
            return None
        return (self.win, self.channels, nw, self.margin, self.abs_e, chunk, self.floor.quiet_e)


def analyse(jobs: Sequence[tuple[Stream, np.ndarray]]) -> list[list[AudioEvent]]:
    """Analyse each job's whole windows (``int16``, shape ``(nw * win, channels)``); returns each job's events.

    A stream may appear once: the caller feeds a stream's blocks in successive calls.
    """
    events: list[list[AudioEvent]] = [[] for _ in jobs]
    groups: dict[tuple[float, ...], list[int]] = {}
    for i, (stream, x) in enumerate(jobs):
        key = stream.group_key(x.shape[0] // stream.win) if len(jobs) > 1 else None
        if key is None:  # alone, or not on the grid
            _one(stream, x, events[i])
        else:
            groups.setdefault(key, []).append(i)
    for members in groups.values():
        for at in range(0, len(members), GROUP):
            part = members[at : at + GROUP]
            if len(part) == 1:
                _one(*jobs[part[0]], events[part[0]])
            else:
                _many([jobs[i] for i in part], [events[i] for i in part])
    return events


def _one(stream: Stream, x: np.ndarray, events: list[AudioEvent]) -> None:
    """One block alone, any cut and any length: per-channel numpy on its voiced windows."""
    nw = x.shape[0] // stream.win
    energy = stream.energy.of(stream.energy.squares(x, nw))  # (channels, windows)
    emax: list[float] = energy.max(axis=1).tolist()
    stream.peaks.update(x, emax)
    # No window of a channel whose loudest is under the absolute floor can be voiced: when that holds for
    # every channel only the noise floor's state moves, and the per-window floors are not needed.
    loud = [e > stream.abs_e for e in emax]
    k0 = stream.nwin
    on_grid = stream.group_key(nw) is not None
    voiced: np.ndarray | None = None
    if any(loud):
        if on_grid:
            floors = _floors_on_grid([stream], energy[None], nw, per_window=True)[0]
        else:
            floors = stream.floor.floors(energy.T, k0).T
        threshold = floors * stream.margin
        np.maximum(threshold, stream.abs_e, out=threshold)
        voiced = energy > threshold
    elif on_grid:
        _floors_on_grid([stream], energy[None], nw, per_window=False)
    else:
        stream.floor.floors(energy.T, k0)
    stream.nwin = k1 = k0 + nw
    transitions: list[Transition] = []
    for c in range(stream.channels):
        if voiced is not None and loud[c]:
            stream.runs.scan(c, voiced[c].nonzero()[0], energy[c], k0, k1, transitions)
        else:
            stream.runs.settle(c, k1, transitions)
    _close_block(stream, transitions, k1, events)


def _many(jobs: list[tuple[Stream, np.ndarray]], out: list[list[AudioEvent]]) -> None:
    """Several streams' blocks of the same shape on the sub-window grid: all but the energies and peaks are
    computed for all the blocks at once (a block's float64 squares live only until its energies are taken)."""
    s0, nw = jobs[0][0], jobs[0][1].shape[0] // jobs[0][0].win
    ch = s0.channels
    energy = np.empty((len(jobs), ch, nw))
    for g, (stream, x) in enumerate(jobs):  # the peaks while the block is still in cache
        energy[g] = stream.energy.of(stream.energy.squares(x, nw))
        stream.peaks.update(x, energy[g].max(axis=1).tolist())
    threshold = _floors_on_grid([stream for stream, _ in jobs], energy, nw, per_window=True) * s0.margin
    np.maximum(threshold, s0.abs_e, out=threshold)
    voiced = energy > threshold
    # Per stream and channel: how many windows are voiced, the first and the last of them and their energy in
    # total: enough to extend an open run without looking at its windows one by one.
    counts: list[list[int]] = voiced.sum(axis=2).tolist()
    first: list[list[int]] = voiced.argmax(axis=2).tolist()
    last: list[list[int]] = (nw - 1 - voiced[:, :, ::-1].argmax(axis=2)).tolist()
    totals: list[list[float]] = np.where(voiced, energy, 0.0).sum(axis=2).tolist()
    for g, (stream, _) in enumerate(jobs):
        runs = stream.runs
        k0 = stream.nwin
        stream.nwin = k1 = k0 + nw
        transitions: list[Transition] = []
        n, lo, hi, total = counts[g], first[g], last[g], totals[g]
        for c, run in enumerate(runs.runs):
            if not (n[c] or run.is_open):
                continue  # a silent channel with no run to close: the usual case, nothing to do
            if not runs.advance(c, n[c], lo[c] + k0, hi[c] + k0, total[c], k1, transitions):
                runs.scan(c, voiced[g, c].nonzero()[0], energy[g, c], k0, k1, transitions)
        if transitions or stream.timeline.silence_pending:
            _close_block(stream, transitions, k1, out[g])


def _close_block(stream: Stream, transitions: list[Transition], k1: int, events: list[AudioEvent]) -> None:
    """Replay the block's transitions of both channels in time order; dead air may have come due."""
    timeline = stream.timeline
    if transitions:
        transitions.sort()
        timeline.replay(transitions, events)
    if timeline.silence_pending:
        timeline.check_silence(stream.runs.at(k1), events)


def _floors_on_grid(streams: list[Stream], energy: np.ndarray, nw: int, *, per_window: bool) -> np.ndarray:
    """The floor at every window of blocks that are whole sub-windows on the grid, all streams at once: shape
    ``(streams, channels, nw)`` like ``energy``. Without ``per_window`` only the trackers move (the result
    is then empty)."""
    s0 = streams[0]
    chunk, ch = s0.floor.chunk, s0.channels
    tracked = s0.floor.tracked(energy).reshape(len(streams), ch, nw // chunk, chunk)
    if not per_window:
        lows: list[list[list[float]]] = tracked.min(axis=3).transpose(0, 2, 1).tolist()
        for g, stream in enumerate(streams):
            stream.floor.enter(lows[g])
        return energy[:0]
    run = np.minimum.accumulate(tracked, axis=3)
    lows = run[:, :, :, -1].transpose(0, 2, 1).tolist()  # per stream, per sub-window, per channel
    bases = np.array([stream.floor.enter(lows[g]) for g, stream in enumerate(streams)])
    return np.minimum(run, bases.transpose(0, 2, 1)[:, :, :, None]).reshape(len(streams), ch, nw)
