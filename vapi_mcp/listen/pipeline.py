"""AudioPipeline: what happens to each listen frame, with no I/O but the recording file.

The listen session hands every WebSocket message here. Binary audio is buffered and
analysed in blocks (numpy cost is per call, so batching a second keeps the hot path
cheap); text frames become events. It is synchronous and deterministic, so it is tested
by feeding bytes, exactly like the websockets protocol core.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vapi_mcp.listen.analysis import AudioAnalyzer, AudioEvent, AudioSummary
from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.frames import (
    AudioFormat,
    FormatFrame,
    MessageFrame,
    PcmBuffer,
    TranscriptFrame,
    parse_text_frame,
)
from vapi_mcp.listen.recorder import WavRecorder

__all__ = ["AudioPipeline"]

log = logging.getLogger(__name__)

# Vapi message types that are already covered by our own, better events.
_SUPPRESSED_MESSAGES = frozenset({"start"})


class AudioPipeline:
    """Analysis + event log + recording for one call's listen stream (survives reconnects)."""

    def __init__(
        self,
        call_id: str,
        log_: EventLog,
        *,
        recording_path: Path | None,
        silence_threshold_s: float = 2.0,
        block_s: float = 1.0,
        on_audio: Callable[[], None] | None = None,
    ) -> None:
        self.call_id = call_id
        self.log = log_
        self.recording_path = recording_path
        self.silence_threshold_s = silence_threshold_s
        self.block_s = block_s
        self.on_audio = on_audio
        self.malformed = 0
        self.frames = 0
        self._configure(AudioFormat())
        self._audio_started = False
        self._streaming = False  # audio started and not paused: feed() may take its fast path
        self._finished = False
        self._paused_at: float | None = None

    def _configure(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self.buffer = PcmBuffer(fmt, block_s=self.block_s)
        self.analyzer = AudioAnalyzer(fmt, call_id=self.call_id, silence_threshold_s=self.silence_threshold_s)
        self.recorder: WavRecorder | None = None

    # ------------------------------------------------------------------ input
    def feed(self, message: bytes | str) -> None:
        """One WebSocket message. Never raises on bad input.

        The hot path (an audio frame, ~50 per second per call) is one copy into the block buffer; everything
        else happens once per block.
        """
        self.frames += 1
        if self._streaming and type(message) is bytes:
            if self.buffer.append(message):
                self._drain(force=False)
            return
        self._resume()
        if isinstance(message, bytes | bytearray | memoryview):
            self._audio_started = self._streaming = True
            if self.buffer.append(message):
                self._drain(force=False)
        else:
            self._text(message)

    def feed_text(self, message: str | bytes) -> None:
        """One text frame, as ``str`` or as its raw UTF-8 payload (invalid UTF-8 counts as malformed)."""
        self.frames += 1
        self._resume()
        self._text(message)

    def _resume(self) -> None:
        if self._paused_at is not None:  # a new session after stop_listening: the pause is a gap
            paused_for, self._paused_at = time.monotonic() - self._paused_at, None
            self.gap(paused_for)

    def _text(self, text: str | bytes) -> None:
        frame = parse_text_frame(text)
        if isinstance(frame, FormatFrame):
            if self._audio_started:
                log.warning("call %s: ignoring a format frame after audio started", self.call_id)
            else:
                self._configure(AudioFormat(sample_rate=frame.sample_rate, channels=frame.channels))
        elif isinstance(frame, TranscriptFrame):
            self.log.append("transcript", {"role": frame.role, "text": frame.text, "final": frame.final})
        elif isinstance(frame, MessageFrame):
            if frame.type not in _SUPPRESSED_MESSAGES:
                self.log.append("vapi.message", {"type": frame.type, "message": frame.data})
        else:  # MalformedFrame
            self.malformed += 1
            if self.malformed <= 5 or self.malformed % 100 == 0:
                log.info("call %s: malformed listen frame #%d (%s)", self.call_id, self.malformed, frame.reason)

    def gap(self, seconds: float) -> None:
        """The socket was away for ``seconds``: keep analysis and recording aligned with call time."""
        self._drain(force=True)
        # A partial sample frame from the old socket would shift every sample of the new one.
        self.buffer.clear()
        self._emit(self.analyzer.skip(seconds))
        recorder = self._recorder()
        if recorder is not None:
            recorder.write_silence(seconds)

    def pause(self) -> None:
        """The session stopped but the call goes on: close open segments, flush, remember when."""
        if self._finished or self._paused_at is not None:
            return
        self._drain(force=True)
        self._emit(self.analyzer.skip(0.0))
        if self.recorder is not None:
            self.recorder.close()
        self._paused_at = time.monotonic()
        self._streaming = False

    def finish(self) -> None:
        """The call is over: close open segments, flush and close the recording. Idempotent."""
        if self._finished:
            return
        self._paused_at = None
        self._drain(force=True)
        self._emit(self.analyzer.finish())
        self._finished = True
        if self.recorder is not None:
            self.recorder.close()

    # ------------------------------------------------------------------ work
    def _drain(self, *, force: bool) -> None:
        chunk = self.buffer.take_view(force=force)  # valid until the next append: used here, never kept
        if chunk is None:
            return
        recorder = self._recorder()
        if recorder is not None:
            recorder.write(chunk)  # the WAV stores exactly the interleaved s16le bytes we received
        block = np.frombuffer(chunk, dtype="<i2").reshape(-1, self.format.channels)
        self._emit(self.analyzer.process(block))
        if self.on_audio is not None:
            self.on_audio()

    def _recorder(self) -> WavRecorder | None:
        if self.recording_path is None or self._finished:
            return None
        if self.recorder is None or self.recorder.closed:
            # resume=True: a stop/start or a restart appends to the call's recording, never overwrites it.
            self.recorder = WavRecorder(
                self.recording_path, sample_rate=self.format.sample_rate, channels=self.format.channels, resume=True
            )
        return self.recorder

    def _emit(self, events: list[AudioEvent]) -> None:
        for event in events:
            self.log.append(event.type, event.data)

    def summary(self) -> AudioSummary:
        """The audio summary so far (DESIGN §7): a typed snapshot; ``model_dump()`` is the JSON object."""
        return self.analyzer.summary()
