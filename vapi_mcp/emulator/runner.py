"""Serve the emulator with uvicorn on a socket we bind ourselves (port 0 = a free one).

Two entry points: :func:`running_emulator` for tests, ``--sandbox`` and the demo (an async context manager that
leaves signal handling to its host), and :func:`serve_forever` for ``vapi-mcp emulator --port N``.

On the way out the emulator closes every listen socket with 1001 (going away) *before* uvicorn's own shutdown
(which would say 1012), then stops each call's task; the whole exit takes well under two seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncGenerator, Generator, Iterable
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from vapi_mcp.emulator.app import Emulator
from vapi_mcp.emulator.listen import ABORT_EXTENSION
from vapi_mcp.emulator.options import EmulatorOptions, FaultRule

__all__ = ["running_emulator", "serve_forever"]

logger = logging.getLogger(__name__)


class _AbortableWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websockets protocol, plus a way for the app to drop the TCP connection.

    ASGI has no "abort" message; the emulator needs one to reproduce a socket that dies without a close frame.
    """

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # absent when the handshake itself was rejected
            scope["extensions"][ABORT_EXTENSION] = {"abort": self.transport.abort}


class _EmulatorServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, emulator: Emulator, *, capture_signals: bool) -> None:
        super().__init__(config)
        self._emulator = emulator
        self._capture = capture_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if self._capture:
            with super().capture_signals():
                yield
        else:  # embedded: the host process owns its signals
            yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._emulator.aclose()  # 1001 to listeners before uvicorn says 1012
        await super().shutdown(sockets)


def _emulator(options: EmulatorOptions, faults: Iterable[FaultRule]) -> Emulator:
    emulator = Emulator(options)
    for rule in faults:
        emulator.add_fault(rule)
    return emulator


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
    # and without it every keep-alive request waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _server(emulator: Emulator, *, capture_signals: bool) -> _EmulatorServer:
    config = uvicorn.Config(
        emulator.app,
        lifespan="off",
        log_config=None,  # leave the host's logging configuration alone
        log_level="warning",
        access_log=False,  # request paths may carry monitor tokens
        ws=_AbortableWebSocketProtocol,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=1,
    )
    return _EmulatorServer(config, emulator, capture_signals=capture_signals)


@contextlib.asynccontextmanager
async def running_emulator(
    options: EmulatorOptions, host: str = "127.0.0.1", port: int = 0, *, faults: Iterable[FaultRule] = ()
) -> AsyncGenerator[Emulator]:
    """Serve an :class:`Emulator` on ``host:port`` for the duration of the block; ``emu.base_url`` is set."""
    emulator = _emulator(options, faults)
    sock = _bind(host, port)
    emulator.bind(host, sock.getsockname()[1])
    server = _server(emulator, capture_signals=False)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="vapi-emulator")
    try:
        while not server.started:
            if task.done():
                task.result()  # surfaces a startup failure
                raise RuntimeError("the emulator stopped during startup")
            await asyncio.sleep(0.005)
        yield emulator
    finally:
        server.should_exit = True
        done, _ = await asyncio.wait({task}, timeout=2.0)
        if not done:
            server.force_exit = True
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        await emulator.aclose()
        sock.close()


async def serve_forever(
    options: EmulatorOptions, host: str = "127.0.0.1", port: int = 0, *, faults: Iterable[FaultRule] = ()
) -> None:
    """Run the emulator until interrupted (``vapi-mcp emulator``). Logs the base URL, never the key."""
    emulator = _emulator(options, faults)
    sock = _bind(host, port)
    emulator.bind(host, sock.getsockname()[1])
    server = _server(emulator, capture_signals=True)
    # WARNING so that it shows even where logging was never configured (stderr, via logging's last resort).
    logger.warning("Vapi emulator listening on %s (scenario %s)", emulator.base_url, options.scenario)
    try:
        await server.serve(sockets=[sock])
    finally:
        await emulator.aclose()
        sock.close()
