"""What the listen WebSocket sends, parsed without I/O.

Vapi's listen socket carries two kinds of messages (reference/vapi-api.md §2):

- **binary** messages: raw PCM, signed 16-bit little-endian, interleaved, 16 kHz stereo by default
  (channel 0 = customer, channel 1 = assistant). Message boundaries are *not* sample boundaries: a
  message may end in the middle of a sample or of a stereo frame, so bytes are accumulated in a
  :class:`PcmBuffer` and only whole frames are handed on, in blocks (numpy costs per call, not per
  sample, so blocks of a second keep the hot path cheap).
- **text** messages: JSON. :func:`parse_text_frame` turns each into one small immutable value:
  a :class:`FormatFrame` (a leading ``{"type":"start","sampleRate":…,"channels":…}``-style
  announcement), a :class:`TranscriptFrame`, a :class:`MessageFrame` (anything else with a ``type``,
  passed through) or a :class:`MalformedFrame`. It never raises: the socket is remote input.

A mono stream (``channels: 1``) is both parties mixed into one channel; consumers attribute it to the
``customer`` party and mark the assistant as not measured (see :mod:`vapi_mcp.listen.analysis`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, cast

import numpy as np

from vapi_mcp.redact import scrub

__all__ = [
    "MAX_STORED_MESSAGE",
    "MAX_TEXT_FRAME",
    "AudioFormat",
    "FormatFrame",
    "MalformedFrame",
    "MessageFrame",
    "PcmBuffer",
    "TextFrame",
    "TranscriptFrame",
    "parse_text_frame",
    "read_transcript",
]

MAX_TEXT_FRAME = 1 << 20
"""Text frames longer than this (bytes, or characters for ``str``) are rejected unparsed."""

MAX_STORED_MESSAGE = 64 << 10
"""A passed-through message whose JSON text is longer than this keeps only its ``type``."""

MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 48000
_MAX_TYPE_LEN = 200
_MAX_TRANSCRIPT_CHARS = 64 << 10

# s16le, whatever the host's byte order.
_S16LE = np.dtype("<i2")


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """Raw PCM layout of the listen stream: s16le, interleaved."""

    sample_rate: int = 16000
    channels: int = 2

    def __post_init__(self) -> None:
        if type(self.sample_rate) is not int or not MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE:
            raise ValueError(f"sample_rate must be an int in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}")
        if type(self.channels) is not int or self.channels not in (1, 2):
            raise ValueError("channels must be 1 or 2")

    @property
    def bytes_per_frame(self) -> int:
        """Bytes of one sample of every channel (4 for 16-bit stereo)."""
        return 2 * self.channels

    @property
    def bytes_per_second(self) -> int:
        return self.bytes_per_frame * self.sample_rate


class PcmBuffer:
    """Accumulates listen-socket bytes and hands out whole frames, a block at a time.

    This sits on the hot path (one :meth:`append` per WebSocket message, ~50/s per call, hundreds of calls
    per process), so appending only keeps the message (``bytes`` are immutable: a reference, no copy) and
    counts its bytes. A block is joined once, when it is taken (:meth:`take_view`): one copy per block
    instead of one slice assignment per message, which costs ~0.2 µs more per message than a list append.
    All numpy work is deferred to the consumer, once per ``block_s`` of audio.
    """

    __slots__ = ("_block_bytes", "_chunks", "_fmt", "_frame_bytes", "_size")

    def __init__(self, fmt: AudioFormat | None = None, block_s: float = 0.25) -> None:
        self._fmt = fmt if fmt is not None else AudioFormat()
        if not block_s > 0:
            raise ValueError("block_s must be positive")
        self._frame_bytes = self._fmt.bytes_per_frame
        self._block_bytes = max(1, round(block_s * self._fmt.sample_rate)) * self._frame_bytes
        self._chunks: list[bytes] = []  # the messages not yet taken, the first maybe the tail of a taken one
        self._size = 0  # their bytes

    @property
    def format(self) -> AudioFormat:
        return self._fmt

    @property
    def pending_bytes(self) -> int:
        """Bytes buffered and not yet taken (including a trailing partial frame)."""
        return self._size

    def append(self, data: bytes | bytearray | memoryview) -> bool:
        """Buffer one binary message; ``True`` once at least a block is buffered. O(1) for ``bytes``."""
        if type(data) is not bytes:
            data = bytes(data)  # the caller may reuse a mutable buffer: keep a copy of its bytes
        self._chunks.append(data)
        self._size = size = self._size + len(data)
        return size >= self._block_bytes

    def take_view(self, force: bool = False) -> memoryview | None:
        """Every whole frame buffered, once at least ``block_s`` of audio is there, as raw s16le bytes.

        Returns ``None`` while less than a block is buffered (or, with ``force=True``, when not even one
        whole frame is). The bytes of a trailing partial frame stay buffered for the next message. The view
        is of immutable bytes that nothing else holds: it stays valid, and may be kept.
        """
        size = self._size
        if size < self._block_bytes and not force:
            return None
        usable = size - size % self._frame_bytes
        if usable == 0:
            return None
        chunks = self._chunks
        joined = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if usable < size:
            self._chunks, self._size = [joined[usable:]], size - usable
        else:
            self._chunks, self._size = [], 0
        return memoryview(joined)[:usable]

    def take_block(self, force: bool = False) -> np.ndarray | None:
        """Like :meth:`take_view`, as a writable ``int16`` array of shape ``(n, channels)`` that owns its memory."""
        view = self.take_view(force)
        if view is None:
            return None
        return np.frombuffer(view, dtype=_S16LE).reshape(-1, self._fmt.channels).copy()

    def clear(self) -> None:
        """Drop everything buffered (e.g. the socket reconnected: a stale partial frame must not prefix new audio)."""
        self._chunks, self._size = [], 0


# ---------------------------------------------------------------------------------------------- text frames


@dataclass(frozen=True, slots=True)
class FormatFrame:
    """An announcement of the audio format; a field the frame did not carry keeps its default."""

    sample_rate: int = 16000
    channels: int = 2

    @property
    def format(self) -> AudioFormat:
        return AudioFormat(sample_rate=self.sample_rate, channels=self.channels)


@dataclass(frozen=True, slots=True)
class TranscriptFrame:
    role: Literal["customer", "assistant"]
    text: str
    final: bool
    raw_type: str


@dataclass(frozen=True, slots=True)
class MessageFrame:
    """Any other JSON object with a string ``type``; ``data`` is the object itself (or a stub when too big)."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MalformedFrame:
    reason: str


TextFrame: TypeAlias = FormatFrame | TranscriptFrame | MessageFrame | MalformedFrame

_ROLES: dict[str, Literal["customer", "assistant"]] = {
    "user": "customer",
    "customer": "customer",
    "assistant": "assistant",
    "bot": "assistant",
}
# Vapi's server-message filter syntax also appears as a type: transcript[transcriptType="final"].
_BRACKET_KIND = re.compile(r'transcriptType\s*=\s*["\']?(\w+)')


def parse_text_frame(text: str | bytes) -> TextFrame:
    """Classify one text message of the listen socket. Never raises, whatever the input."""
    try:
        return _parse(text)
    except Exception as exc:  # a last guard: remote input must never kill the listen loop
        return MalformedFrame(f"unparseable frame ({type(exc).__name__})")


def _parse(text: object) -> TextFrame:
    decoded = _decode(text)
    if isinstance(decoded, MalformedFrame):
        return decoded
    text, size = decoded
    try:
        parsed: object = json.loads(text)
    except (ValueError, RecursionError):
        return MalformedFrame("invalid JSON")
    if not isinstance(parsed, dict):
        return MalformedFrame(f"JSON {type(parsed).__name__}, not an object")
    obj = cast(dict[str, Any], parsed)  # JSON object keys are always strings

    kind = obj.get("type")
    if isinstance(kind, str) and kind.startswith("transcript"):
        transcript = _transcript(kind, obj)
        if transcript is not None:
            return transcript
    elif _numeric(obj.get("sampleRate")) or _numeric(obj.get("channels")):
        return _format(obj)

    if not isinstance(kind, str) or not kind:
        return MalformedFrame("JSON object without a string type")
    if len(kind) > _MAX_TYPE_LEN:
        return MalformedFrame(f"type too long ({len(kind)} characters)")
    kind = cast(str, scrub(kind))  # stored as the event's type field: remote text like the rest
    if size > MAX_STORED_MESSAGE:
        return MessageFrame(kind, {"type": kind, "truncated": True, "size": size})
    # Vapi's messages carry the call object, monitor URLs included: what is stored must hold no capability.
    return MessageFrame(kind, cast(dict[str, Any], scrub(obj)))


def read_transcript(obj: dict[str, Any]) -> TranscriptFrame | None:
    """A transcript message already parsed (a webhook's ``message``), read by the listen socket's rules."""
    kind = obj.get("type")
    if not isinstance(kind, str):
        return None
    try:
        return _transcript(kind, obj)
    except Exception:  # remote input, as in parse_text_frame
        return None


def _decode(text: object) -> tuple[str, int] | MalformedFrame:
    """The frame as ``str`` and its size, refusing oversized frames before any decoding or parsing."""
    if isinstance(text, str):
        size = len(text)
        if size > MAX_TEXT_FRAME:
            return MalformedFrame(f"frame too large ({size} characters)")
        return text, size
    if not isinstance(text, bytes | bytearray | memoryview):
        return MalformedFrame(f"not a text frame ({type(text).__name__})")
    size = text.nbytes if isinstance(text, memoryview) else len(text)
    if size > MAX_TEXT_FRAME:
        return MalformedFrame(f"frame too large ({size} bytes)")
    raw = text.tobytes() if isinstance(text, memoryview) else bytes(text)
    try:
        return raw.decode("utf-8"), size
    except UnicodeDecodeError:
        return MalformedFrame("text frame is not UTF-8")


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _format(obj: dict[str, Any]) -> TextFrame:
    """A format announcement; numbers out of range are malformed rather than silently ignored."""
    defaults = FormatFrame()
    values: dict[str, int] = {}
    for key, name, default in (
        ("sampleRate", "sample_rate", defaults.sample_rate),
        ("channels", "channels", defaults.channels),
    ):
        raw = obj.get(key)
        if raw is None or not _numeric(raw):
            values[name] = default
        elif raw != raw or raw in (float("inf"), float("-inf")) or int(raw) != raw:
            return MalformedFrame(f"{key} is not an integer")
        else:
            values[name] = int(raw)
    if not MIN_SAMPLE_RATE <= values["sample_rate"] <= MAX_SAMPLE_RATE:
        return MalformedFrame(f"unsupported sampleRate {values['sample_rate']}")
    if values["channels"] not in (1, 2):
        return MalformedFrame(f"unsupported channels {values['channels']}")
    return FormatFrame(sample_rate=values["sample_rate"], channels=values["channels"])


def _transcript(kind: str, obj: dict[str, Any]) -> TranscriptFrame | None:
    """``None`` when it is not a transcript we understand: it is then passed through as a message."""
    if kind != "transcript" and not kind.startswith("transcript["):
        return None
    role = obj.get("role")
    text = obj.get("transcript")
    if not isinstance(role, str) or not isinstance(text, str):
        return None
    party = _ROLES.get(role.lower())
    if party is None:
        return None
    stage = obj.get("transcriptType")
    if not isinstance(stage, str):
        match = _BRACKET_KIND.search(kind)
        stage = match.group(1) if match else None
    # No stage at all: a transcript nobody marked partial is taken as the final text.
    final = stage is None or stage.lower() == "final"
    # Stored and shown as is: scrubbed like any ingested text (a URL or key read out, or a hostile socket),
    # before it is cut, so that a cut never leaves part of a capability behind.
    text = cast(str, scrub(text))
    if len(text) > _MAX_TRANSCRIPT_CHARS:
        text = text[:_MAX_TRANSCRIPT_CHARS] + "…"
    return TranscriptFrame(role=party, text=text, final=final, raw_type=kind)
