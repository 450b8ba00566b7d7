"""An early listen session (opened before the call is known to be live) over a real loopback socket.

Vapi gives the listen URL at creation, and the supervisor opens the socket at once so that it hears the
call from its first word. Should the socket not serve a call that is not live yet (refused, or closed
before any audio) while the call is not over, the session gives way without a trace: no event, no gap,
no pause, so that the session opened once the call is in progress starts the stream clock at its audio.
"""

from __future__ import annotations

import socket
from http import HTTPStatus
from pathlib import Path
from typing import Any

import anyio
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.pipeline import AudioPipeline
from vapi_mcp.listen.session import ListenSession


async def _early(handler: Any, tmp_path: Path, *, call_over: bool, refuse: bool = False) -> ListenSession:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def is_over() -> bool:
        return call_over

    def not_found(connection: ServerConnection, request: Request) -> Response | None:
        return connection.respond(HTTPStatus.NOT_FOUND, "Call not found\n") if refuse else None

    async with serve(handler, sock=sock, process_request=not_found):
        log = EventLog("c1")
        pipeline = AudioPipeline("c1", log, recording_path=tmp_path / "rec.wav")
        session = ListenSession(
            "c1", f"ws://127.0.0.1:{port}/t/c1/listen", pipeline, log, call_is_over=is_over, early=True
        )
        with anyio.fail_after(20):
            await session.run()
    return session


async def _close_at_once(ws: ServerConnection) -> None:
    await ws.close(1000)


async def test_a_refused_early_socket_gives_way_without_a_trace(tmp_path: Path) -> None:
    session = await _early(_close_at_once, tmp_path, call_over=False, refuse=True)
    assert session.gave_way and session.connects == 0 and session.closed_reason == ""
    assert session.log.read(limit=10).events == []
    session.pipeline.feed(b"\x00" * 1280)  # the next session's audio: no gap before it
    assert session.log.read(limit=10).events == [] and session.pipeline.audio_started


async def test_an_early_socket_closed_before_any_audio_gives_way(tmp_path: Path) -> None:
    session = await _early(_close_at_once, tmp_path, call_over=False)
    assert session.gave_way and session.connects == 1
    assert [e.type for e in session.log.read(limit=10).events] == ["listen.connected"]


async def test_an_early_socket_closed_because_the_call_ended_closes_the_session(tmp_path: Path) -> None:
    session = await _early(_close_at_once, tmp_path, call_over=True)
    assert not session.gave_way and session.closed_reason == "call ended"
    assert [e.type for e in session.log.read(limit=10).events] == ["listen.connected", "listen.closed"]


async def test_an_early_socket_that_heard_audio_is_an_ordinary_session(tmp_path: Path) -> None:
    async def audio_then_drop(ws: ServerConnection) -> None:
        await ws.send(b"\x00" * 1280)
        await ws.close(1000)

    session = await _early(audio_then_drop, tmp_path, call_over=False)
    assert not session.gave_way and session.closed_reason == "call ended"
