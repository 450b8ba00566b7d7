"""The HTTP transport's connection limits, over real loopback sockets, with short injected timeouts."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
import uvicorn
from anyio.abc import SocketStream
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import ERAS, make_settings
from vapi_mcp.emulator import Emulator
from vapi_mcp.face import create_server
from vapi_mcp.face.http import HttpLimits, build_http_server

TOKEN = "http-token-for-tests-0123456789abcdef"
HEAD = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@asynccontextmanager
async def serving(emulator: Emulator, tmp_path: Path, limits: HttpLimits) -> AsyncGenerator[tuple[int, uvicorn.Server]]:
    settings = make_settings(emulator, tmp_path / "data", http_token=TOKEN)
    server = build_http_server(create_server(settings), settings, "127.0.0.1", 0, limits)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        await until(lambda: server.started)
        try:
            yield server.servers[0].sockets[0].getsockname()[1], server
        finally:
            server.should_exit = True


async def until(condition: Callable[[], bool]) -> None:
    while not condition():  # every caller runs under anyio.fail_after
        await anyio.sleep(0.01)


async def closed_by_server(stream: SocketStream) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    try:
        while True:
            received += await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
        return received


async def trickle(stream: SocketStream, chunk: bytes) -> None:
    """Send ``chunk`` every 50 ms until the server closes the connection."""
    try:
        while True:
            await stream.send(chunk)
            await anyio.sleep(0.05)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionResetError):
        return


async def test_silent_and_trickling_connections_are_closed_at_the_head_deadline(
    emulator: Emulator, tmp_path: Path
) -> None:
    deadline = 0.5
    async with serving(emulator, tmp_path, HttpLimits(header_timeout_s=deadline)) as (port, _):
        closed_after: list[float] = []

        async def silent() -> None:
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                start = anyio.current_time()
                assert await closed_by_server(stream) == b""
                closed_after.append(anyio.current_time() - start)

        async def trickling_head() -> None:
            async with await anyio.connect_tcp("127.0.0.1", port) as stream, anyio.create_task_group() as tg:
                start = anyio.current_time()
                await stream.send(HEAD)
                tg.start_soon(trickle, stream, b"X-Pad: 1\r\n")
                assert await closed_by_server(stream) == b""
                closed_after.append(anyio.current_time() - start)

        async def trickling_body_after_401() -> None:
            # The 401 is sent without reading the body; the body then trickles on.
            async with await anyio.connect_tcp("127.0.0.1", port) as stream, anyio.create_task_group() as tg:
                await stream.send(HEAD + b"Content-Length: 100000\r\n\r\n{")
                response = b""
                while not response.endswith(b"}"):
                    response += await stream.receive()
                assert response.startswith(b"HTTP/1.1 401")
                start = anyio.current_time()
                tg.start_soon(trickle, stream, b" ")
                await closed_by_server(stream)
                closed_after.append(anyio.current_time() - start)

        with anyio.fail_after(deadline + 5):  # generous: 2 shared cores
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(silent)
                    tg.start_soon(trickling_head)
                    tg.start_soon(trickling_body_after_401)
        assert len(closed_after) == 9
        assert all(deadline * 0.8 < after < deadline + 2 for after in closed_after), closed_after


@pytest.mark.parametrize("era", ERAS)
async def test_an_authenticated_session_outlives_the_head_deadline(
    emulator: Emulator, tmp_path: Path, era: str
) -> None:
    deadline = 0.3
    with anyio.fail_after(20):
        async with (
            serving(emulator, tmp_path, HttpLimits(header_timeout_s=deadline)) as (port, _),
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
            Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http), mode=era) as client,  # type: ignore[arg-type]
        ):
            before = {tool.name for tool in (await client.list_tools()).tools}
            await anyio.sleep(deadline * 4)  # idle keep-alive connections and open streams stay up
            after = {tool.name for tool in (await client.list_tools()).tools}
            assert before == after and "create_call" in after


async def test_connections_beyond_the_cap_get_503_and_beyond_twice_the_cap_are_dropped(
    emulator: Emulator, tmp_path: Path
) -> None:
    cap = 3
    authorized = HEAD + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 2\r\n\r\n{{}}".encode()
    with anyio.fail_after(10):
        async with serving(emulator, tmp_path, HttpLimits(header_timeout_s=5, max_connections=cap)) as (port, uv):
            open_now = lambda: len(uv.server_state.connections)  # noqa: E731
            served = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(cap)]
            await until(lambda: open_now() == cap)

            async with await anyio.connect_tcp("127.0.0.1", port) as extra:
                await extra.send(authorized)
                reply = await closed_by_server(extra)
                assert reply.startswith(b"HTTP/1.1 503"), reply
            await until(lambda: open_now() == cap)

            waiting = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(cap)]
            await until(lambda: open_now() == 2 * cap)
            async with await anyio.connect_tcp("127.0.0.1", port) as dropped:
                assert await closed_by_server(dropped) == b""

            for stream in served + waiting:
                await stream.aclose()
            await until(lambda: open_now() == 0)
            async with await anyio.connect_tcp("127.0.0.1", port) as fresh:
                await fresh.send(HEAD + b"Content-Length: 2\r\n\r\n{}")
                assert (await fresh.receive()).startswith(b"HTTP/1.1 401")
