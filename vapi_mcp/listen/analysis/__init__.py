"""Per-party voice activity and the audio summary of one call, computed from raw listen-stream PCM.

Sans-I/O: :class:`AudioAnalyzer` is fed ``int16`` blocks of shape ``(n, channels)`` (any length, any cut) and
returns :class:`AudioEvent` values; :meth:`AudioAnalyzer.summary` is the :class:`AudioSummary` of DESIGN §7.

How it decides who is talking (one VAD per channel; channel 0 = customer, 1 = assistant), one module each:

1. **Windows** (:mod:`.analyzer`, :mod:`.levels`). Audio is cut into fixed 20 ms windows on a grid that does
   not depend on how the stream was cut into blocks. Window energy is the exact integer sum of squares,
   computed for all windows of a block at once.
2. **Noise floor** (:mod:`.noisefloor`). Per channel, the minimum window energy over the last ~5 s; it falls
   at once and rises only as old minima age out. Digitally silent windows are left out.
3. **Voiced window**: energy above ``floor + 10 dB`` *and* above an absolute -55 dBFS, so a telephony line
   hiss (-60…-45 dBFS) never counts as speech.
4. **Voice runs** (:mod:`.voice`). Voiced windows less than the hangover (0.35 s) apart form one segment; a
   segment shorter than ``min_speech_s`` is a click and is dropped.
5. **Call timeline** (:mod:`.timeline`). Both parties' segment transitions, merged in time order, become
   ``speech.started`` / ``speech.stopped``, dead air (``silence``), overlaps and interruptions.
6. **Summary** (:mod:`.summary`, :mod:`.sparkline`): typed per-party figures, the recent segments and an
   activity sparkline per party.

Mono streams carry both parties mixed: all activity is reported under ``customer`` (read it as "anyone");
the assistant party carries ``"measured": false`` and zeros, and overlaps cannot be seen.

Memory is constant however long the call: the segment timeline is a bounded deque and the sparkline merges
adjacent buckets (doubling their span) whenever the call outgrows its width.
"""

from __future__ import annotations

from vapi_mcp.listen.analysis.analyzer import AudioAnalyzer, MeasuredBlock
from vapi_mcp.listen.analysis.sparkline import SPARK_CHARS
from vapi_mcp.listen.analysis.summary import PARTIES, AudioSummary, Party, PartySummary, SpeechSegment
from vapi_mcp.listen.analysis.timeline import AudioEvent

__all__ = [
    "PARTIES",
    "SPARK_CHARS",
    "AudioAnalyzer",
    "AudioEvent",
    "AudioSummary",
    "MeasuredBlock",
    "Party",
    "PartySummary",
    "SpeechSegment",
]
