"""Analysing a call's recording again after a restart, so its audio summary covers all the audio heard.

A restarted server has the call's recording and event log but not its analyzer's state. Two ways to get the
state back were weighed: saving the analyzer's state in the call's snapshot (periodically and at shutdown),
or analysing the recording again at start. The second is what this module does, because:

- it is exact: the analyzer gives the same result however its input is cut into blocks, and the recording
  holds exactly the samples it was fed (with zeros where the socket was away, which the ``listen.gap``
  events of the log place, so they are skipped as gaps again, not taken for silence);
- it is right after a ``kill -9`` at any moment, where a saved state is as old as its last save, and it
  adds no write to the audio hot path and no format to keep compatible across versions;
- it is cheap: ``python -m bench.recovery`` measured 0.08 s of one core for a 15-minute stereo recording
  (about 11,000x real time; analysed in 30 s blocks, in a worker thread, once per call that is resumed or
  found ended without its final summary), and the recording's read comes from the page cache or one
  sequential pass over 58 MB.

The events this analysis produces were logged the first time and are not logged again.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vapi_mcp.listen.analysis import AudioAnalyzer
from vapi_mcp.listen.recorder import RecordingLayout

__all__ = ["Gap", "gaps_from_events", "replay_recording"]

_BLOCK_S = 30.0  # seconds read and analysed at a time (about 2 MB at 16 kHz stereo)


class Gap(NamedTuple):
    """A hole in the listen stream: from ``start_s`` (call time) for ``seconds``; the recording holds zeros."""

    start_s: float
    seconds: float


def gaps_from_events(events: Iterable[dict[str, Any]]) -> list[Gap]:
    """The gaps named by ``listen.gap`` events' data (``from_s``, ``gap_s``); malformed ones are ignored."""
    gaps: list[Gap] = []
    for data in events:
        start, seconds = data.get("from_s"), data.get("gap_s")
        if isinstance(start, int | float) and isinstance(seconds, int | float) and start >= 0 and seconds >= 0:
            gaps.append(Gap(float(start), float(seconds)))
    return sorted(gaps)


def replay_recording(analyzer: AudioAnalyzer, path: Path, layout: RecordingLayout, gaps: Iterable[Gap]) -> None:
    """Feed the recording at ``path`` through ``analyzer`` (fresh, of the recording's format), skipping ``gaps``.

    Leaves the analyzer as it was when the last recorded sample was analysed; its events are dropped.
    """
    rate, channels = layout.sample_rate, layout.channels
    frame = 2 * channels
    total = layout.data_bytes // frame
    block = max(1, int(_BLOCK_S * rate))
    pos = 0
    marks = [(round(g.start_s * rate), round(g.seconds * rate)) for g in gaps]
    with open(path, "rb") as f:
        for start, length in [*marks, (total, 0)]:
            start = min(max(start, pos), total)
            f.seek(layout.data_start + pos * frame)
            while pos < start:
                n = min(block, start - pos)
                raw = f.read(n * frame)
                got = len(raw) // frame
                if got == 0:
                    return
                analyzer.process(np.frombuffer(raw[: got * frame], dtype="<i2").reshape(-1, channels))
                pos += got
            if pos >= total:
                return
            if length:
                analyzer.skip(length / rate)
                pos += length
