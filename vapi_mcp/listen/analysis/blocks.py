"""The analysis of whole windows, a block at a time, in two steps; the second vectorised over many streams.

1. :func:`measure` does the per-sample work: window energies, peaks and clip counts. It runs as soon as a
   block is complete, while its samples are still in cache, and keeps only the energies (800 bytes for a
   1 s stereo block, against 64 KiB of samples).
2. :func:`decide` takes the measured blocks of many streams together: the noise floors, voiced flags and
   the figures that extend open runs are computed for up to :data:`GROUP` blocks per numpy call, and only
   the per-call state (the noise floor's ring, open runs, the timeline) moves one stream at a time.

numpy costs per call, not per sample: decided alone, a 1 s block is ~25 calls of a microsecond or two.
A process that listens to hundreds of calls has many blocks ready at each turn of its event loop, and
then pays most of those calls once per group.

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

__all__ = ["GROUP", "Measure", "Stream", "decide", "measure"]

GROUP = 64
"""Blocks decided per vectorised step at most."""

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

    def group_key(self, nw: int) -> tuple[object, ...] | None:
        """Streams whose next ``nw`` windows can be decided in one vectorised step share a key; ``None`` when
        this block needs the general path (not whole sub-windows on the grid, or too long to sum exactly)."""
        chunk = self.floor.chunk
        if self.nwin % chunk or nw % chunk or nw * self.win >= _EXACT_SAMPLES:
            return None
        return (nw, self.settings)

    @property
    def settings(self) -> tuple[float, ...]:
        """What the vectorised step assumes the streams of a group share."""
        return (self.win, self.channels, self.margin, self.abs_e, self.floor.chunk, self.floor.quiet_e)


@dataclass(slots=True, eq=False)
class Measure:
    """A block measured (energies and peaks taken) whose windows are still to be decided."""

    stream: Stream
    energy: np.ndarray  # (channels, windows)


def measure(stream: Stream, x: np.ndarray) -> Measure:
    """The per-sample work on whole windows (``int16``, shape ``(nw * win, channels)``): their energies, and
    the peaks and clip counts. Done as soon as the block is complete, while it is still in cache; nothing
    of it depends on the decisions still to be taken for earlier blocks."""
    energy = stream.energy.of(stream.energy.squares(x, x.shape[0] // stream.win))
    stream.peaks.update(x, energy)
    return Measure(stream, energy)


def decide(measures: Sequence[Measure]) -> list[list[AudioEvent]]:
    """The windows of each measured block decided (floors, voiced flags, runs, the timeline); each one's events.

    A stream may appear once: the caller decides a stream's blocks in successive calls, in order.
    """
    events: list[list[AudioEvent]] = [[] for _ in measures]
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, m in enumerate(measures):
        key = m.stream.group_key(m.energy.shape[1]) if len(measures) > 1 else None
        if key is None:  # alone, or not on the grid
            _one(m, events[i])
        else:
            groups.setdefault(key, []).append(i)
    for members in groups.values():
        for at in range(0, len(members), GROUP):
            part = members[at : at + GROUP]
            if len(part) == 1:
                _one(measures[part[0]], events[part[0]])
            else:
                _many([measures[i] for i in part], [events[i] for i in part])
    return events


def _one(m: Measure, events: list[AudioEvent]) -> None:
    """One block alone, any cut and any length: per-channel numpy on its voiced windows."""
    stream, energy = m.stream, m.energy
    nw = energy.shape[1]
    # No window of a channel whose loudest is under the absolute floor can be voiced: when that holds for
    # every channel only the noise floor's state moves, and the per-window floors are not needed.
    loud = [e > stream.abs_e for e in energy.max(axis=1).tolist()]
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


def _many(measures: list[Measure], out: list[list[AudioEvent]]) -> None:
    """Several streams' blocks of the same shape on the sub-window grid, decided together: floors, voiced
    flags and the figures that extend an open run take one numpy call for all of them."""
    streams = [m.stream for m in measures]
    s0 = streams[0]
    energy = np.stack([m.energy for m in measures])  # (blocks, channels, windows)
    nw = energy.shape[2]
    threshold = _floors_on_grid(streams, energy, nw, per_window=True) * s0.margin
    np.maximum(threshold, s0.abs_e, out=threshold)
    voiced = energy > threshold
    # Per stream and channel: how many windows are voiced, the first and the last of them and their energy in
    # total: enough to extend an open run without looking at its windows one by one.
    counts: list[list[int]] = voiced.sum(axis=2).tolist()
    first: list[list[int]] = voiced.argmax(axis=2).tolist()
    last: list[list[int]] = (nw - 1 - voiced[:, :, ::-1].argmax(axis=2)).tolist()
    totals: list[list[float]] = np.where(voiced, energy, 0.0).sum(axis=2).tolist()
    for g, stream in enumerate(streams):
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
