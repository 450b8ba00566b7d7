"""AudioPipeline: what happens to each listen frame, with no I/O but the recording file.

The listen session hands every WebSocket message here. Binary audio is buffered and
analysed in blocks (numpy cost is per call, so batching a second keeps the hot path
cheap); text frames become events. It is synchronous and deterministic, so it is tested
by feeding bytes, exactly like the websockets protocol core.

Inside a running event loop a completed block is measured at once (its per-sample work,
while it is in cache: :meth:`AudioAnalyzer.measure`), and deciding it waits for the end of
the loop's turn, when every pipeline's measured blocks are decided in one vectorised pass
(:meth:`AudioAnalyzer.decide_many`): a process listening to many calls has many blocks
ready per turn, and most numpy calls are then paid once per batch instead of once per
block. The results are exactly those of analysing each block at once. A pipeline's later text
frames wait behind its blocks, so its events keep their order in the log, and anything that
reads or moves the analysis (:meth:`summary`, :meth:`gap`, :meth:`pause`, :meth:`finish`)
first settles the pipeline's own waiting work. Without a running loop (tests, scripts)
every block is analysed as soon as it is complete.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np

from vapi_mcp.listen.analysis import AudioAnalyzer, AudioEvent, AudioSummary, MeasuredBlock
from vapi_mcp.listen.eventdata import utc_now
from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.frames import (
    AudioFormat,
    FormatFrame,
    MessageFrame,
    PcmBuffer,
    TranscriptFrame,
    parse_text_frame,
)
from vapi_mcp.listen.recorder import WavRecorder, recording_layout
from vapi_mcp.listen.replay import Gap, replay_recording

__all__ = ["AudioPipeline"]

log = logging.getLogger(__name__)

# Vapi message types that are already covered by our own, better events.
_SUPPRESSED_MESSAGES = frozenset({"start"})

_MAX_WAITING = 64
"""Blocks waiting at most in one loop turn (64 KiB each at 16 kHz stereo): more are analysed at once."""


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
        accept_transcript: Callable[[str, str, bool], bool] | None = None,
    ) -> None:
        self.call_id = call_id
        # Asked (role, text, final) before a transcript frame is logged: the supervisor's dedupe, when the
        # same transcript also arrives by webhook (DESIGN §12).
        self.accept_transcript = accept_transcript
        self.log = log_
        self.recording_path = recording_path
        self.silence_threshold_s = silence_threshold_s
        self.block_s = block_s
        self.on_audio = on_audio
        self.malformed = 0
        self.frames = 0
        self._configure(AudioFormat())
        self._audio_started = False
        self._streaming = False  # audio started, not paused, nothing failed: feed() may take its fast path
        self._finished = False
        self._paused_at: float | None = None
        self._pause_reason = "stopped"  # what a gap at the next audio is said to be (listen.gap's reason)
        # Measured blocks (None: nothing to decide), and the text frames behind them, for the end of the turn.
        self._waiting: list[MeasuredBlock | str | bytes | None] = []
        self._failed: Exception | None = None  # in waiting work done at a turn's end: raised by the next feed

    def _configure(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self.buffer = PcmBuffer(fmt, block_s=self.block_s)
        self.analyzer = AudioAnalyzer(fmt, call_id=self.call_id, silence_threshold_s=self.silence_threshold_s)
        self.recorder: WavRecorder | None = None

    @property
    def audio_started(self) -> bool:
        """Audio has arrived (or a restart analysed the recording): the stream clock runs."""
        return self._audio_started

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
        self._raise_failure()
        self._resume()
        if isinstance(message, bytes | bytearray | memoryview):
            self._audio_started = self._streaming = True
            if self.buffer.append(message):
                self._drain(force=False)
        elif self._waiting:
            self._waiting.append(message)
        else:
            self._text(message)

    def feed_text(self, message: str | bytes) -> None:
        """One text frame, as ``str`` or as its raw UTF-8 payload (invalid UTF-8 counts as malformed)."""
        self.frames += 1
        self._raise_failure()
        self._resume()
        if self._waiting:  # behind this pipeline's waiting blocks, so the log keeps stream order
            self._waiting.append(message)
        else:
            self._text(message)

    def _resume(self) -> None:
        if self._paused_at is not None:  # a new session after stop_listening: the pause is a gap
            paused_for, self._paused_at = time.monotonic() - self._paused_at, None
            self.gap(paused_for, reason=self._pause_reason)

    def _text(self, text: str | bytes) -> None:
        frame = parse_text_frame(text)
        if isinstance(frame, FormatFrame):
            if self._audio_started:
                log.warning("call %s: ignoring a format frame after audio started", self.call_id)
            else:
                self._configure(AudioFormat(sample_rate=frame.sample_rate, channels=frame.channels))
        elif isinstance(frame, TranscriptFrame):
            accept = self.accept_transcript
            if accept is not None and not accept(frame.role, frame.text, frame.final):
                return
            self.log.append("transcript", {"role": frame.role, "text": frame.text, "final": frame.final})
        elif isinstance(frame, MessageFrame):
            if frame.type not in _SUPPRESSED_MESSAGES:
                self.log.append("vapi.message", {"type": frame.type, "message": frame.data})
        else:  # MalformedFrame
            self.malformed += 1
            if self.malformed <= 5 or self.malformed % 100 == 0:
                log.info("call %s: malformed listen frame #%d (%s)", self.call_id, self.malformed, frame.reason)

    def gap(self, seconds: float, *, reason: str = "reconnect") -> None:
        """The socket was away for ``seconds``: keep analysis and recording aligned with call time.

        Logs a ``listen.gap`` event: the missed interval in call time (``from_s``..``to_s``, where the
        recording holds zeros) and in wall time, and why (``reconnect``, ``stopped``, ``restart``).
        """
        self._settle()
        self._drain(force=True)
        # A partial sample frame from the old socket would shift every sample of the new one.
        self.buffer.clear()
        seconds = round(max(0.0, seconds), 6)
        start = self.analyzer.duration_s
        self._emit(self.analyzer.skip(seconds))
        recorder = self._recorder()
        if recorder is not None:
            recorder.write_silence(seconds)
        now = utc_now()
        self.log.append(
            "listen.gap",
            {
                "reason": reason,
                "from_s": round(start, 6),
                "to_s": round(self.analyzer.duration_s, 6),
                "gap_s": seconds,
                "wall_from": _iso(now - timedelta(seconds=seconds)),
                "wall_to": _iso(now),
            },
        )

    def resume_after_restart(self, gaps: Iterable[Gap], missed_s: float) -> None:
        """A new process takes the call over: analyse what its recording holds, so the summary covers all of
        it (see :mod:`vapi_mcp.listen.replay`; the events of that analysis were logged the first time), and
        count the ``missed_s`` since its last recorded audio, plus the wait for the socket, as a gap.

        Synchronous and CPU-bound (about a second per 15 minutes of audio): run it before the pipeline is
        fed, in a worker thread if need be. Without a readable recording the summary starts from zero.
        """
        path = self.recording_path
        if path is not None and path.exists():
            try:
                layout = recording_layout(path)
                if layout.data_bytes:
                    self._configure(AudioFormat(sample_rate=layout.sample_rate, channels=layout.channels))
                    replay_recording(self.analyzer, path, layout, gaps)
                    self._audio_started = True
            except (OSError, ValueError) as exc:
                log.warning("call %s: cannot analyse its recording again (%s)", self.call_id, exc)
                self._configure(self.format)
        self._paused_at = time.monotonic() - max(0.0, missed_s)
        self._pause_reason = "restart"

    def pause(self) -> None:
        """The session stopped but the call goes on: close open segments, flush, remember when."""
        if self._finished or self._paused_at is not None:
            return
        self._settle()
        self._drain(force=True)
        self._emit(self.analyzer.skip(0.0))
        if self.recorder is not None:
            self.recorder.close()
        self._paused_at = time.monotonic()
        self._pause_reason = "stopped"
        self._streaming = False

    def finish(self) -> None:
        """The call is over: close open segments, flush and close the recording. Idempotent."""
        if self._finished:
            return
        self._paused_at = None
        self._settle()
        self._drain(force=True)
        self._emit(self.analyzer.finish())
        self._finished = True
        if self.recorder is not None:
            self.recorder.close()

    # ------------------------------------------------------------------ work
    def _drain(self, *, force: bool) -> None:
        chunk = self.buffer.take_view(force=force)  # of immutable bytes: used here, never kept
        if chunk is None:
            return
        recorder = self._recorder()
        if recorder is not None:
            recorder.write(chunk)  # the WAV stores exactly the interleaved s16le bytes we received
        block = np.frombuffer(chunk, dtype="<i2").reshape(-1, self.format.channels)
        turn = None if force else _Turn.current()
        if turn is None:
            self._emit(self.analyzer.process(block))
            if self.on_audio is not None:
                self.on_audio()
        else:
            self._waiting.append(self.analyzer.measure(block))  # the samples are not kept: the view dies here
            turn.enlist(self)

    def _settle(self) -> None:
        """Do this pipeline's work that waits for the end of the loop turn now (a failure raises here)."""
        AudioPipeline.settle_all([self])
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failed is not None:  # work of this pipeline's done at a turn's end failed: fail its socket now
            failed, self._failed = self._failed, None
            raise failed

    @staticmethod
    def settle_all(pipelines: Sequence[AudioPipeline]) -> None:
        """Do the waiting work of ``pipelines``: their blocks decided in one :meth:`AudioAnalyzer.decide_many`,
        then each pipeline's results and the text frames that came after them, in arrival order.

        A failure in delivering (the journal refusing an event, say) is kept by its pipeline and raised by
        its next feed, which fails that pipeline's socket as a failure in the feed itself would have.
        """
        todo = [pipeline for pipeline in dict.fromkeys(pipelines) if pipeline._waiting]
        blocks = [w for p in todo for w in p._waiting if not isinstance(w, str | bytes)]
        try:
            results = AudioAnalyzer.decide_many(blocks)
        except Exception as exc:  # a bug, not bad input: every pipeline of the batch fails, none silently
            for pipeline in todo:
                pipeline._waiting = []
                pipeline._fail(exc)
            return
        at = 0
        for pipeline in todo:
            waiting, pipeline._waiting = pipeline._waiting, []
            mine = sum(1 for w in waiting if not isinstance(w, str | bytes))
            pipeline._deliver(waiting, results[at : at + mine])
            at += mine

    def _deliver(self, waiting: list[MeasuredBlock | str | bytes | None], results: list[list[AudioEvent]]) -> None:
        done = iter(results)
        try:
            for item in waiting:
                if isinstance(item, str | bytes):
                    self._text(item)
                else:
                    self._emit(next(done))
                    if self.on_audio is not None:
                        self.on_audio()
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self._failed = self._failed or exc
        self._streaming = False  # so the next feed leaves the fast path and raises it

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
        AudioPipeline.settle_all([self])  # a failure there stays for the next feed: reading never raises it
        return self.analyzer.summary()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Turn:
    """The pipelines of one event loop with work waiting for the end of the loop's current turn.

    The first block of a turn schedules :meth:`AudioPipeline.settle_all` with ``call_soon``: it runs once
    the turn's ready callbacks (every socket's received data) are done, before the loop polls again. So
    many blocks are ready while their analysis waits at most one turn.
    """

    _per_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turn]] = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pipelines: list[AudioPipeline] = []
        self._blocks = 0

    @classmethod
    def current(cls) -> _Turn | None:
        """The running loop's turn, or ``None`` outside a running loop (then work is done at once)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        turn = cls._per_loop.get(loop)
        if turn is None:
            turn = cls._per_loop[loop] = cls(loop)
        return turn

    def enlist(self, pipeline: AudioPipeline) -> None:
        """``pipeline`` has one more block waiting."""
        if not self._pipelines:
            self._loop.call_soon(self._end)
        self._pipelines.append(pipeline)  # once per block: settle_all takes each pipeline once
        self._blocks += 1
        if self._blocks >= _MAX_WAITING:  # bound the memory waiting in one turn
            self._end()

    def _end(self) -> None:
        pipelines, self._pipelines, self._blocks = self._pipelines, [], 0
        AudioPipeline.settle_all(pipelines)
