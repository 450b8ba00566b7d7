"""ListenSession: one call's listen WebSocket. It only moves bytes into the pipeline.

Reconnection reuses websockets' own ``async for ws in connect(...)`` loop (jittered
exponential backoff). An abnormal close while the call is live reconnects; a normal close
(1000/1001), or the call having ended, finishes the session.

An *early* session is opened before the call is known to be in progress (Vapi gives the listen URL at
creation), so that the socket is already open when the first word is spoken. Until audio arrives it is
only a try: if the socket is refused or closes and the call is not over, the session gives way quietly
(``gave_way``: no event, no gap) and the caller opens a normal one once the call is in progress.

Messages do not go through ``recv()``: :class:`~vapi_mcp.listen.direct.DirectConnection`, the
``create_connection`` factory that ``connect()`` offers, hands every message to the pipeline as
it arrives, reading the usual audio frames itself; websockets still does the handshake, pings,
size limits, protocol errors and the close handshake.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import anyio
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from vapi_mcp.listen.direct import DirectConnection
from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.pipeline import AudioPipeline

__all__ = ["ListenSession"]

log = logging.getLogger(__name__)

SessionState = Literal["connecting", "connected", "reconnecting", "closed", "failed"]
NORMAL_CLOSE_CODES = frozenset({1000, 1001})


class ListenSession:
    """Hold one listen socket open until the call ends or we are told to stop."""

    def __init__(
        self,
        call_id: str,
        listen_url: str,
        pipeline: AudioPipeline,
        log_: EventLog,
        *,
        public_key: str | None = None,
        call_is_over: Callable[[], Awaitable[bool]],
        on_state: Callable[[SessionState], None] = lambda state: None,
        max_failed_attempts: int = 8,
        open_timeout_s: float = 10.0,
        early: bool = False,
    ) -> None:
        self.call_id = call_id
        self._url = listen_url  # a capability: never logged
        self.pipeline = pipeline
        self.log = log_
        self.public_key = public_key
        self.call_is_over = call_is_over
        self.on_state = on_state
        self.max_failed_attempts = max_failed_attempts
        self.open_timeout_s = open_timeout_s
        self.early = early
        self.gave_way = False
        self.connects = 0
        self.closed_reason = ""

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.public_key}"} if self.public_key else {}

    async def run(self) -> None:
        """Connect, stream, reconnect on abnormal closes; always finishes the pipeline."""
        self.on_state("connecting")
        failed = 0
        lost_at: float | None = None
        try:
            async for ws in connect(
                self._url,
                additional_headers=self._headers(),
                open_timeout=self.open_timeout_s,
                max_size=2**21,
                compression=None,  # raw PCM barely compresses; inflating it would cost ~6x the receive itself
                ping_interval=20,
                ping_timeout=20,
                close_timeout=2,
                process_exception=_transient,
                create_connection=DirectConnection,
            ):
                assert isinstance(ws, DirectConnection)
                self.connects += 1
                failed = 0
                if lost_at is not None:
                    self.pipeline.gap(time.monotonic() - lost_at)
                    lost_at = None
                self.on_state("connected")
                self.log.append("listen.connected", {"attempt": self.connects})
                ws.attach(audio=self.pipeline.feed, text=self.pipeline.feed_text)  # frames now flow
                await ws.wait_closed()
                if ws.sink_error is not None:
                    exc = ws.sink_error
                    log.error("call %s: the listen pipeline failed", self.call_id, exc_info=exc)
                    self.closed_reason = f"recording or analysis failed ({_describe_error(exc)})"
                    self._closed(ws.close_code, failed=True)
                    return
                code = ws.close_code
                if self._unheard() and not await self.call_is_over():
                    self.gave_way = True  # closed before the call was live: try again once it is
                    return
                if code in NORMAL_CLOSE_CODES or await self.call_is_over():
                    self.closed_reason = "call ended" if code in NORMAL_CLOSE_CODES else "call over"
                    self._closed(code)
                    return
                lost_at = time.monotonic()
                failed += 1
                if failed > self.max_failed_attempts:
                    self.closed_reason = "too many failed reconnects"
                    self._closed(code, failed=True)
                    return
                self.on_state("reconnecting")
                self.log.append("listen.reconnecting", {"code": code, "attempt": failed})
        except (InvalidStatus, InvalidHandshake, OSError, TimeoutError) as exc:
            # Not transient (e.g. 401/404 at the handshake), or retries exhausted by websockets.
            if self._unheard() and not await self.call_is_over():
                self.gave_way = True  # refused before the call was live: try again once it is
                return
            if (self.connects or self._unheard()) and _gone(exc) and await self._over_after_all():
                # The socket dropped as the call ended, and "is it over?" could not be answered then.
                self.closed_reason = "call over"
                self._closed(None)
                return
            self.closed_reason = _describe(exc)
            self._closed(None, failed=True)
        finally:
            # Stopped or cancelled while the call may go on (finish() already ran if it ended).
            if not self.gave_way:
                self.pipeline.pause()  # idempotent and synchronous: flushes the recording even when cancelled

    def _unheard(self) -> bool:
        """An early session that has had no audio yet (the call may not be live)."""
        return self.early and not self.pipeline.audio_started

    async def _over_after_all(self, attempts: int = 3, pause_s: float = 0.5) -> bool:
        """Ask again, a few times, whether the call is over (each answer may fail and say no)."""
        for attempt in range(attempts):
            if await self.call_is_over():
                return True
            if attempt + 1 < attempts:
                await anyio.sleep(pause_s * (attempt + 1))
        return False

    def _closed(self, code: int | None, *, failed: bool = False) -> None:
        # Close open speech segments first, so listen.closed is the session's last event.
        if failed:
            self.pipeline.pause()
        else:
            self.pipeline.finish()
        self.on_state("failed" if failed else "closed")
        self.log.append("listen.closed", {"code": code, "reason": self.closed_reason})


def _describe_error(exc: Exception) -> str:
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _transient(exc: Exception) -> Exception | None:
    """websockets' hook: return None to retry the connection, or the exception to give up.

    Retry network trouble and 5xx handshakes; give up on 4xx (wrong key, unknown or ended call).
    """
    if isinstance(exc, InvalidStatus):
        return None if exc.response.status_code >= 500 else exc
    if isinstance(exc, OSError | TimeoutError | InvalidHandshake | EOFError):
        return None
    return exc


def _gone(exc: Exception) -> bool:
    """The monitor host no longer knows the call (404/410): what an ended call's listen URL answers."""
    return isinstance(exc, InvalidStatus) and exc.response.status_code in (404, 410)


def _describe(exc: Exception) -> str:
    if isinstance(exc, InvalidStatus):
        return f"listen handshake refused with HTTP {exc.response.status_code}"
    return f"listen connection failed ({type(exc).__name__})"
