"""MCP logging: the server's own log records, sent to clients that ask for them.

* Handshake-era (2025-11-25) clients set a level with ``logging/setLevel``; from then on every
  ``vapi_mcp.*`` record at or above it reaches them as ``notifications/message``, whatever task
  logged it (listen sessions and pollers included). Registering the handler is what makes the
  SDK declare the ``logging`` capability.
* 2026-07-28 clients opt in per request (``io.modelcontextprotocol/logLevel`` in ``_meta``); the
  SDK may then send only on that request's stream, so they receive the records logged while their
  own request ran, just before its result.

Records are redacted when they are created (``vapi_mcp.redact``), so no secret or monitor URL
can reach a client here either. Only our own loggers are forwarded, never a dependency's.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, get_args

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import MCPDeprecationWarning
from mcp.server import MCPServer, ServerRequestContext
from mcp.server.session import ServerSession
from mcp.types import EmptyResult, LoggingLevel, SetLevelRequestParams
from mcp_types import LOG_LEVEL_META_KEY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from vapi_mcp.face.notify import connection_key, when_closed

__all__ = ["ClientLog"]

log = logging.getLogger(__name__)

ROOT_LOGGER = "vapi_mcp"
_MCP_LEVELS: Final[tuple[LoggingLevel, ...]] = get_args(LoggingLevel)  # severity-ascending (RFC 5424)
_PY_LEVEL: Final[dict[LoggingLevel, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO + 5,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL + 5,
    "emergency": logging.CRITICAL + 10,
}
_QUEUE = 1000  # records waiting for legacy sessions; beyond it they are dropped (and counted)

Entry = tuple[int, LoggingLevel, str, str]  # python level, MCP level, logger name, message
_request_entries: contextvars.ContextVar[list[Entry] | None] = contextvars.ContextVar("vapi_mcp_log", default=None)


def mcp_level(levelno: int) -> LoggingLevel:
    """The MCP level of a Python level: the highest MCP level not above it."""
    chosen: LoggingLevel = "debug"
    for level in _MCP_LEVELS:
        if _PY_LEVEL[level] <= levelno:
            chosen = level
    return chosen


class _Forward(logging.Handler):
    def __init__(self, sink: Callable[[Entry], None]) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = (record.levelno, mcp_level(record.levelno), record.name, record.getMessage())
        except Exception:  # a broken format string is the logger's problem, never the client's
            return
        collected = _request_entries.get()
        if collected is not None:
            collected.append(entry)
        self._sink(entry)


class ClientLog:
    """Serves ``logging/setLevel`` and forwards our log records to the clients that asked."""

    def __init__(self) -> None:
        self._levels: dict[str, int] = {}  # connection key -> lowest Python level wanted
        self._sessions: dict[str, ServerSession] = {}
        self._send: MemoryObjectSendStream[Entry] | None = None
        self._loop_thread: int | None = None
        self._portal: Callable[[Callable[[], None]], None] | None = None
        self.dropped = 0
        self._operator_level: int | None = None  # the vapi_mcp logger's level before any client asked

    # ------------------------------------------------------------------ registration
    def install(self, server: MCPServer[Any]) -> None:
        low = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]  # no public API for setLevel in 2.3
        # Serving handshake-era clients the logging they negotiated is the point; the SDK's deprecation
        # notice (logging left the 2026 spec) would otherwise print once per process on stderr.
        warnings.filterwarnings(
            "ignore", message="The logging capability is deprecated", category=MCPDeprecationWarning
        )
        low.add_request_handler("logging/setLevel", SetLevelRequestParams, self._set_level)
        server.middleware.append(self._per_request)

    async def _set_level(self, ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
        key = connection_key(ctx)
        if key not in self._sessions:
            self._sessions[key] = ctx.session
            when_closed(ctx.session, functools.partial(self._forget, key))
        self._levels[key] = _PY_LEVEL[params.level]
        self._sync_logger_level()
        return EmptyResult()

    def _forget(self, key: str) -> None:
        self._levels.pop(key, None)
        self._sessions.pop(key, None)
        self._sync_logger_level()

    def _sync_logger_level(self) -> None:
        """Make sure records at the levels clients asked for are created at all (debug is off by default).

        The operator's level is remembered and restored once no client wants more than it gives.
        """
        logger = logging.getLogger(ROOT_LOGGER)
        if self._operator_level is None:
            self._operator_level = logger.level
        wanted = min(self._levels.values(), default=logging.NOTSET)
        operator = self._operator_level
        effective = logging.getLogger().getEffectiveLevel() if operator == logging.NOTSET else operator
        logger.setLevel(wanted if wanted and wanted < effective else operator)

    def _restore_logger_level(self) -> None:
        if self._operator_level is not None:
            logging.getLogger(ROOT_LOGGER).setLevel(self._operator_level)
            self._operator_level = None

    async def _per_request(self, ctx: ServerRequestContext[Any, Any], call_next: Callable[..., Awaitable[Any]]) -> Any:
        """2026-07-28: records logged while a request runs go back on its stream, if it opted in."""
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS or ctx.request_id is None:
            return await call_next(ctx)
        requested = (ctx.meta or {}).get(LOG_LEVEL_META_KEY)
        if requested not in _PY_LEVEL:
            return await call_next(ctx)
        collected: list[Entry] = []
        token = _request_entries.set(collected)
        key = f"request-{id(collected)}"
        self._levels[key] = _PY_LEVEL[requested]  # records at that level must be created while it runs
        self._sync_logger_level()
        try:
            return await call_next(ctx)
        finally:
            _request_entries.reset(token)
            del self._levels[key]
            self._sync_logger_level()
            for _, level, name, message in collected:
                try:
                    await ctx.session.send_log_message(level, message, logger=name)  # pyright: ignore[reportDeprecated]  # served on purpose; drops what was not asked for
                except Exception:
                    break

    # ------------------------------------------------------------------ delivery to handshake-era sessions
    @asynccontextmanager
    async def attached(self) -> AsyncGenerator[None]:
        """Forward records for as long as the context is open (the server's lifespan)."""
        send, receive = anyio.create_memory_object_stream[Entry](_QUEUE)
        handler = _Forward(self._offer)
        self._send, self._loop_thread = send, threading.get_ident()
        token = anyio.lowlevel.current_token()
        self._portal = lambda fn: anyio.from_thread.run_sync(fn, token=token)
        logger = logging.getLogger(ROOT_LOGGER)
        logger.addHandler(handler)
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._deliver, receive)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
        finally:
            logger.removeHandler(handler)
            self._restore_logger_level()
            self._levels.clear()
            self._sessions.clear()
            self._send = self._portal = None
            send.close()

    def _offer(self, entry: Entry) -> None:
        if not self._levels or entry[0] < min(self._levels.values()):
            return
        if threading.get_ident() != self._loop_thread:
            portal = self._portal
            if portal is not None:
                try:
                    portal(functools.partial(self._put, entry))
                except Exception:  # the loop is gone: nobody to tell
                    return
            return
        self._put(entry)

    def _put(self, entry: Entry) -> None:
        if self._send is None:
            return
        try:
            self._send.send_nowait(entry)
        except anyio.WouldBlock:
            self.dropped += 1

    async def _deliver(self, receive: MemoryObjectReceiveStream[Entry]) -> None:
        async for levelno, level, name, message in receive:
            for key, wanted in list(self._levels.items()):
                session = self._sessions.get(key)
                if session is None or levelno < wanted:
                    continue
                try:
                    await session.send_log_message(level, message, logger=name)  # pyright: ignore[reportDeprecated]  # the era asked
                except Exception:  # a dead client must never stop delivery to the others
                    self._forget(key)
