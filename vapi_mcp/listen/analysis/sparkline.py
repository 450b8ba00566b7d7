"""The activity sparkline: one character per time bucket, how much of it a party spent talking.

Memory stays constant however long the call: there are at most ``width`` buckets per party, and whenever
the call outgrows them neighbouring buckets are merged pairwise, doubling the time each one covers.
"""

from __future__ import annotations

__all__ = ["SPARK_CHARS", "Sparkline"]

SPARK_CHARS = "▁▂▃▄▅▆▇█"
_BUCKET_S = 0.5  # the initial bucket; doubles whenever the call outgrows the width


class Sparkline:
    """Talk time per bucket (in samples) for each channel; rendered on demand."""

    __slots__ = ("_buckets", "_width", "span")

    def __init__(self, sample_rate: int, channels: int, width: int) -> None:
        self._width = max(1, width)
        self.span = max(1, round(_BUCKET_S * sample_rate))  # samples per bucket
        self._buckets: list[list[int]] = [[] for _ in range(channels)]

    def add(self, channel: int, start: int, end: int) -> None:
        """Count the talk ``[start, end)`` (stream samples) into the channel's buckets."""
        _spread(self._buckets[channel], self.span, start, end)

    def outgrown(self, clock: int) -> bool:
        """Whether a call ``clock`` samples long needs more than ``width`` buckets (cheap: asked per block)."""
        return clock > self.span * self._width

    def fit(self, clock: int) -> None:
        """Keep at most ``width`` buckets for a call ``clock`` samples long: merge neighbours pairwise."""
        while clock > self.span * self._width:
            self.span *= 2
            for buckets in self._buckets:
                buckets[:] = [sum(buckets[i : i + 2]) for i in range(0, len(buckets), 2)]

    def render(self, channel: int, clock: int, open_talk: tuple[int, int] | None) -> str:
        """The channel's line for a call ``clock`` samples long; ``open_talk`` is a segment still going on."""
        span = self.span
        count = -(-clock // span)
        buckets = self._buckets[channel] + [0] * (count - len(self._buckets[channel]))
        if open_talk is not None:
            _spread(buckets, span, *open_talk)
        chars: list[str] = []
        for i in range(count):
            frac = buckets[i] / max(1, min(span, clock - i * span))
            chars.append(SPARK_CHARS[min(7, max(0, round(frac * 7)))])
        return "".join(chars)


def _spread(buckets: list[int], span: int, start: int, end: int) -> None:
    i = start // span
    while start < end:
        part = min(end, (i + 1) * span) - start
        if len(buckets) <= i:
            buckets.extend([0] * (i + 1 - len(buckets)))
        buckets[i] += part
        start += part
        i += 1
