"""MCP over stdio, with an answer for every line that is not a JSON-RPC message.

The SDK's stdio transport turns a line that fails to parse or validate into an exception on its
read stream, which the server drops: the client hears nothing and waits for its own timeout,
where the HTTP transport answers the same bytes with an error. :func:`run_stdio` reads stdin
itself and answers such a line on stdout, as JSON-RPC 2.0 says:

* not JSON (garbage, invalid UTF-8, a lone surrogate escape, nesting deeper than the parser's
  limit, a number out of range): ``-32700`` Parse error, ``id`` null;
* JSON but not one JSON-RPC message (a batch array, a wrong envelope): ``-32600`` Invalid
  Request, with the request's ``id`` when it carries a usable one, else null;
* a line longer than :data:`MAX_LINE_BYTES` (the SDK's limit on an HTTP body): ``-32600``, and
  the rest of the line is skipped without being held in memory.

Blank lines carry no message and are skipped. Valid lines take exactly the SDK's path (same
parser, same server loop). stdout stays the SDK's: it writes every message, and points fd 1 at
stderr meanwhile so a stray ``print`` misses the wire; fd 0 likewise reads the null device while
we read the protocol from a private duplicate, so handlers and child processes see EOF.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from io import StringIO
from typing import Any, BinaryIO, cast

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server import MCPServer
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp.shared.message import SessionMessage
from mcp.types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError, RequestId, jsonrpc_message_adapter
from pydantic import ValidationError
from pydantic_core import from_json

__all__ = ["MAX_LINE_BYTES", "run_stdio"]

log = logging.getLogger(__name__)

MAX_LINE_BYTES = DEFAULT_MAX_REQUEST_BODY_SIZE
"""The longest line read as a message (4 MiB, as an HTTP body), newline excluded."""

_Reply = Callable[[SessionMessage], Awaitable[None]]


async def run_stdio(server: MCPServer[Any], *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
    """Serve ``server`` over stdin and stdout until stdin closes (``server.run_stdio_async()`` that answers)."""
    lowlevel = server._lowlevel_server  # pyright: ignore[reportPrivateUsage]  # no public way; run_stdio_async does it
    with _claimed_stdin() as stdin:
        # An empty stdin ends the SDK's own reader at once; it keeps writing stdout.
        async with stdio_server(stdin=anyio.wrap_file(StringIO())) as (unused, write):
            await unused.aclose()
            messages, received = anyio.create_memory_object_stream[SessionMessage](0)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_read_lines, stdin, messages, write.send, max_line_bytes)
                await lowlevel.run(received, write, lowlevel.create_initialization_options())
                tg.cancel_scope.cancel()  # the server stopped first: stop reading


async def _read_lines(
    stdin: BinaryIO, messages: MemoryObjectSendStream[SessionMessage], reply: _Reply, max_line_bytes: int
) -> None:
    """Pass each message on to the server, answer each line that is none, close at EOF."""
    async with messages:
        while line := await _read(stdin, max_line_bytes + 1):
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                while (rest := await _read(stdin, max_line_bytes)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of an over-long line, a bounded piece at a time
                outcome: SessionMessage | JSONRPCError | None = _error(
                    None, INVALID_REQUEST, f"Invalid request: a message is at most {max_line_bytes} bytes"
                )
            else:
                outcome = _parse(line)
            try:
                if isinstance(outcome, SessionMessage):
                    await messages.send(outcome)
                elif outcome is not None:
                    log.warning("stdio: answered %d to a line of %d bytes", outcome.error.code, len(line))
                    await reply(SessionMessage(outcome))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return  # the server has stopped


async def _read(stdin: BinaryIO, limit: int) -> bytes:
    # Abandoned on cancellation: the thread stays blocked on the private descriptor, never closed.
    return await anyio.to_thread.run_sync(stdin.readline, limit, abandon_on_cancel=True)


def _parse(line: bytes) -> SessionMessage | JSONRPCError | None:
    """The message on ``line``, or the error that answers it, or None for a blank line."""
    if not line.strip():
        return None
    try:
        return SessionMessage(jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors(include_url=False, include_input=False)):
            return _error(None, PARSE_ERROR, "Parse error")
    decoded: object = from_json(line)  # it parsed above; only its shape was wrong
    if isinstance(decoded, list):
        return _error(None, INVALID_REQUEST, "Invalid request: batches are not supported, send one message a line")
    return _error(_request_id(decoded), INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message")


def _request_id(decoded: object) -> RequestId | None:
    """The ``id`` of something shaped like a request, when it is one JSON-RPC allows."""
    if not isinstance(decoded, dict):
        return None
    fields = cast("dict[str, object]", decoded)  # a JSON object
    if "method" not in fields:
        return None
    request_id = fields.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        return None
    return request_id


def _error(request_id: RequestId | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))


@contextmanager
def _claimed_stdin() -> Generator[BinaryIO]:
    """stdin's bytes, from a private duplicate of fd 0 while fd 0 reads the null device.

    Where ``sys.stdin`` is not fd 0 (an embedding host, a test runner), it is read in place.
    """
    try:
        on_fd0 = sys.stdin.fileno() == 0
    except (AttributeError, OSError, ValueError):
        on_fd0 = False
    if not on_fd0:
        yield sys.stdin.buffer
        return
    private = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)  # never 0-2, not inherited by children
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
    finally:
        os.close(null)
    try:
        # closefd=False: a reader thread may still block on it after we return; it must not be recycled.
        yield os.fdopen(private, "rb", closefd=False)
    finally:
        os.dup2(private, 0)
