"""One listen socket's outbox: the call's producer pushes frames, the socket handler drains them.

Kept apart from the socket so that the fan-out, the odd message sizes and the slow-listener cut-off are plain
synchronous code: the producer never awaits a listener, and a listener that falls behind is closed (1011)
instead of making the call's memory grow.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterator
from typing import Any, NamedTuple

__all__ = ["ABORT", "Close", "Listener", "Outgoing"]


class Close(NamedTuple):
    """Close the socket with this code and reason (1000 when the call ends, 1001 on shutdown)."""

    code: int
    reason: str = ""


class _Abort(enum.Enum):
    ABORT = "abort"


ABORT = _Abort.ABORT  # drop the TCP connection without a close frame (a scripted fault)
Outgoing = bytes | dict[str, Any] | Close | _Abort  # audio, a JSON text frame, or how the socket ends


class Listener:
    """One listen socket's outbox. The producer pushes; the socket handler drains.

    With ``chunk_sizes`` (the scenario's ``odd_sizes``) audio is re-cut per listener so that message
    boundaries are not sample boundaries, while every listener's stream still starts on a frame boundary.
    """

    def __init__(self, chunk_sizes: Iterator[int] | None = None, *, max_backlog: int = 2000) -> None:
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue()
        self._chunks = chunk_sizes
        self._pending = bytearray()
        self._next_size: int | None = None
        self._max_backlog = max_backlog
        self.finished = False

    def push_audio(self, frame: bytes) -> None:
        if self.finished:
            return
        if self._chunks is None:
            self._put(frame)
            return
        self._pending += frame
        while True:
            if self._next_size is None:
                self._next_size = max(1, next(self._chunks, len(frame)))
            if len(self._pending) < self._next_size:
                return
            self._put(bytes(self._pending[: self._next_size]))
            del self._pending[: self._next_size]
            self._next_size = None

    def push_text(self, frame: dict[str, Any]) -> None:
        if not self.finished:
            self._put(frame)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.finished:
            return
        if self._pending:
            self._put(bytes(self._pending))
            self._pending.clear()
        self._queue.put_nowait(Close(code, reason))
        self.finished = True

    def abort(self) -> None:
        if not self.finished:
            self._queue.put_nowait(ABORT)
            self.finished = True

    def _put(self, item: Outgoing) -> None:
        if self._queue.qsize() >= self._max_backlog:
            # A listener this far behind would make the call's memory grow without bound: cut it off.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(Close(1011, "listener too slow"))
            self.finished = True
            return
        self._queue.put_nowait(item)

    async def get(self) -> Outgoing:
        return await self._queue.get()
