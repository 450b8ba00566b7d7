"""The audio summary of one call as typed values (DESIGN §7).

:meth:`AudioAnalyzer.summary <vapi_mcp.listen.analysis.AudioAnalyzer.summary>` builds these;
``model_dump()`` is the JSON object the tools and the audio-summary resource return, field for field.
They are snapshots: a new one per call of ``summary()``, never updated in place.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["PARTIES", "AudioSummary", "Party", "PartySummary", "SpeechSegment"]

Party = Literal["customer", "assistant"]
PARTIES: tuple[Party, Party] = ("customer", "assistant")
"""Channel ``c`` of the listen stream is ``PARTIES[c]``; a mono stream is all ``customer``."""


class PartySummary(BaseModel):
    """One party's share of the call.

    On a mono stream both parties are mixed into one channel, reported as the customer's; the assistant
    then reads ``measured: false``, zeros, and no noise floor.
    """

    model_config = ConfigDict(frozen=True)

    talk_s: float
    talk_ratio: float
    turns: int
    mean_dbfs: float
    peak_dbfs: float
    clipping_ratio: float
    speaking: bool
    measured: bool
    noise_floor_dbfs: float | None


class SpeechSegment(BaseModel):
    """One turn of one party: voice from ``start_s`` to ``end_s``, pauses shorter than the hangover bridged."""

    model_config = ConfigDict(frozen=True)

    party: Party
    start_s: float
    end_s: float


class AudioSummary(BaseModel):
    """The whole call so far: per-party figures, dead air, overlaps, the recent timeline and the sparklines."""

    model_config = ConfigDict(frozen=True)

    call_id: str
    sample_rate: int
    channels: int
    duration_s: float
    parties: dict[Party, PartySummary]
    overlap_s: float
    longest_silence_s: float
    current_silence_s: float
    interruptions: int
    segments: list[SpeechSegment]
    sparkline: dict[Party, str]
    gaps_s: float
    finished: bool
