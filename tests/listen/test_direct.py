"""DirectConnection against a real websockets server: what its own frame reading delivers, and what it leaves to
websockets (pings, fragments, the close handshake, protocol errors and limits), whatever the byte chunking.

The server writes raw RFC 6455 frames on its transport, so every header form and every cut can be produced.
Bytes the client receives are fed to the connection's ``data_received``, the asyncio protocol method the event
loop calls, either by the loop itself (over the socket) or by the test with chosen cuts after the handshake.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.protocol import State

from vapi_mcp.listen.direct import DirectConnection

CLOSE_1000 = b"\x88\x02\x03\xe8"


def frame(payload: bytes, opcode: int = 2, *, fin: bool = True, rsv: int = 0, mask: bool = False) -> bytes:
    """One raw frame as a server would write it (``mask`` and ``rsv`` only to make a bad one)."""
    head = bytes(((0x80 if fin else 0) | rsv | opcode,))
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        size = bytes((bit | n,))
    elif n < 1 << 16:
        size = bytes((bit | 126,)) + n.to_bytes(2, "big")
    else:
        size = bytes((bit | 127,)) + n.to_bytes(8, "big")
    return head + size + (b"\x00\x00\x00\x00" if mask else b"") + payload


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def attach(self, ws: DirectConnection) -> None:
        ws.attach(audio=lambda data: self.messages.append(("audio", data)), text=self.text)

    def text(self, data: bytes) -> None:
        self.messages.append(("text", data))


@asynccontextmanager
async def connected(
    handler: Callable[[ServerConnection], Any] | None = None, **client: Any
) -> AsyncGenerator[tuple[DirectConnection, Sink, list[ServerConnection]]]:
    """A DirectConnection attached to a sink, to a server running ``handler`` (by default: wait to be closed)."""
    servers: list[ServerConnection] = []

    async def serve_one(ws: ServerConnection) -> None:
        servers.append(ws)
        if handler is not None:
            await handler(ws)
        await ws.wait_closed()

    async with serve(serve_one, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        options: dict[str, Any] = {"compression": None, "ping_interval": None, "close_timeout": 2, **client}
        async with connect(f"ws://127.0.0.1:{port}", create_connection=DirectConnection, **options) as ws:
            assert isinstance(ws, DirectConnection)
            sink = Sink()
            sink.attach(ws)
            yield ws, sink, servers


def stream(rng: random.Random) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Audio and text frames of every header form, with what the sink must receive."""
    raw: list[bytes] = []
    expected: list[tuple[str, bytes]] = []
    for size in (0, 1, 125, 126, 1280, 65535, 65536, 70_000, 1280, 3):
        payload = rng.randbytes(size)
        raw.append(frame(payload))
        expected.append(("audio", payload))
    text = b'{"type":"transcript","transcript":"hi"}'
    raw.append(frame(text, opcode=1))
    expected.append(("text", text))
    return b"".join(raw), expected


async def feed(ws: DirectConnection, data: bytes, cuts: list[int]) -> None:
    """``data`` handed to the connection in pieces ending at ``cuts``, as the event loop would."""
    start = 0
    for cut in [*cuts, len(data)]:
        if cut > start:
            ws.data_received(data[start:cut])
            start = cut
    await anyio.lowlevel.checkpoint()


async def test_frames_of_every_size_are_delivered_exactly_whatever_the_cuts() -> None:
    rng = random.Random(7)
    data, expected = stream(rng)
    async with connected() as (ws, sink, _):
        # The installed websockets is one whose parser the fast path can follow: it waits at a frame boundary.
        assert ws._to_boundary() == 0  # pyright: ignore[reportPrivateUsage]
        await feed(ws, data, [])  # all at once
        for _ in range(30):  # random cuts, some inside headers
            await feed(ws, data, sorted(rng.sample(range(1, len(data)), 12)))
        for cut in range(1, 20):  # every cut inside the first headers
            await feed(ws, data, [cut])
        assert sink.messages == expected * (1 + 30 + 19)
        assert ws.protocol.state is State.OPEN


async def test_over_the_socket_in_small_writes() -> None:
    rng = random.Random(3)
    data, expected = stream(rng)

    async def handler(ws: ServerConnection) -> None:
        at = 0
        while at < len(data):
            step = rng.choice((1, 2, 3, 7, 1000, 5000))
            ws.transport.write(data[at : at + step])
            at += step
            await asyncio.sleep(0.001)

    async with connected(handler) as (_, sink, _):
        with anyio.fail_after(10):
            while len(sink.messages) < len(expected):
                await anyio.sleep(0.01)
        assert sink.messages == expected


async def test_pings_and_fragments_go_through_websockets_in_their_place() -> None:
    audio = [bytes([i]) * 1280 for i in range(4)]
    async with connected() as (ws, sink, servers):
        server = servers[0]
        pong = await server.ping(b"are you there")
        ping = b"\x89\x05hello"
        fragments = frame(b"ab", opcode=1, fin=False) + frame(b"cd", opcode=0, fin=False) + frame(b"ef", opcode=0)
        data = frame(audio[0]) + ping + frame(audio[1]) + fragments + frame(audio[2]) + frame(audio[3])
        for cut in range(len(data)):
            await feed(ws, data, [cut])
        with anyio.fail_after(5):
            await pong  # the server's own ping, answered by the client's websockets
        want = [("audio", audio[0]), ("audio", audio[1]), ("text", b"abcdef"), ("audio", audio[2]), ("audio", audio[3])]
        assert sink.messages == want * len(data)
        assert ws.protocol.state is State.OPEN


async def test_a_close_frame_ends_the_reading_and_the_bytes_after_it_are_ignored() -> None:
    async with connected() as (ws, sink, _):
        ws.data_received(frame(b"\x01" * 1280) + CLOSE_1000 + frame(b"\x02" * 1280))
        with anyio.fail_after(5):
            await ws.wait_closed()
        assert sink.messages == [("audio", b"\x01" * 1280)]
        assert ws.close_code == 1000


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (frame(b"x" * 10, mask=True), 1002),  # a server must not mask
        (frame(b"x" * 10, rsv=0x40), 1002),  # no extension was negotiated
        (frame(b"x" * 10, opcode=3), 1002),  # a reserved opcode
        (frame(b"x" * 2000), 1009),  # over max_size
    ],
)
async def test_what_websockets_refuses_still_fails_the_connection(bad: bytes, code: int) -> None:
    async with connected(max_size=1500) as (ws, sink, _):
        ws.data_received(frame(b"\x01" * 1280) + bad + frame(b"\x02" * 1280))
        with anyio.fail_after(5):
            await ws.wait_closed()
        assert sink.messages == [("audio", b"\x01" * 1280)]
        assert ws.protocol.close_sent is not None and ws.protocol.close_sent.code == code


async def test_a_stream_cut_inside_a_frame_is_an_abnormal_closure() -> None:
    async def handler(ws: ServerConnection) -> None:
        ws.transport.write(frame(b"\x01" * 1280) + frame(b"\x02" * 1280)[:700])
        await asyncio.sleep(0.05)
        ws.transport.abort()

    async with connected(handler) as (ws, sink, _):
        with anyio.fail_after(5):
            await ws.wait_closed()
        assert sink.messages == [("audio", b"\x01" * 1280)]
        assert ws.close_code == 1006


async def test_a_failing_sink_fails_the_connection_and_stops_the_reading() -> None:
    async with connected() as (ws, sink, _):

        def fail(data: bytes) -> None:
            sink.messages.append(("audio", data))
            raise OSError("disk full")

        ws.attach(audio=fail, text=sink.text)
        ws.data_received(frame(b"\x01" * 1280) + frame(b"\x02" * 1280))
        with anyio.fail_after(5):
            await ws.wait_closed()
        assert sink.messages == [("audio", b"\x01" * 1280)]
        assert isinstance(ws.sink_error, OSError)
        assert ws.protocol.close_sent is not None and ws.protocol.close_sent.code == 1011
