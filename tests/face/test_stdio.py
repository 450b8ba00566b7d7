"""The stdio transport answers lines that are not JSON-RPC messages, and keeps serving: a real process over pipes."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client, StdioServerParameters

from tests.face.test_transports import _child_env  # pyright: ignore[reportPrivateUsage]  # one child env for both
from vapi_mcp.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
MAX_LINE = 16384
SERVER = f"""
import anyio
from vapi_mcp.face import create_server
from vapi_mcp.face.stdio import run_stdio
from vapi_mcp.settings import Settings

server = create_server(Settings.from_env())
anyio.run(lambda: run_stdio(server, max_line_bytes={MAX_LINE}))
"""
PARSE_ERROR = {"code": -32700, "message": "Parse error"}
PING = b'{"jsonrpc":"2.0","id":"p","method":"ping"}\n'

# Each line, and the (id, code) of the error it must get.
BAD_LINES: dict[str, tuple[bytes, Any, int]] = {
    "garbage": (b"this is not json", None, -32700),
    "truncated": (b'{"jsonrpc":"2.0","id":1,"method":"tools/list"', None, -32700),
    "lone surrogate": (b'{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":"\\ud800"}}', None, -32700),
    "invalid utf-8": (b'{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":"\xff"}}', None, -32700),
    "nesting 300": (
        b'{"jsonrpc":"2.0","id":4,"method":"ping","params":{"x":' + b"[" * 300 + b"]" * 300 + b"}}",
        None,
        -32700,
    ),
    "huge number": (b'{"jsonrpc":"2.0","id":5,"method":"ping","params":{"x":' + b"9" * 5000 + b"}}", None, -32700),
    "batch": (b'[{"jsonrpc":"2.0","id":6,"method":"ping"}]', None, -32600),
    "empty batch": (b"[]", None, -32600),
    "scalar": (b"42", None, -32600),
    "method not a string": (b'{"jsonrpc":"2.0","id":7,"method":5}', 7, -32600),
    "params not an object": (b'{"jsonrpc":"2.0","id":"eight","method":"tools/list","params":5}', "eight", -32600),
    "wrong version": (b'{"jsonrpc":"1.0","id":9,"method":"ping"}', 9, -32600),
    "id not allowed": (b'{"jsonrpc":"2.0","id":true,"method":"ping","params":[]}', None, -32600),
    "notification with bad method": (b'{"jsonrpc":"2.0","method":5}', None, -32600),
    "over-long line": (
        b'{"jsonrpc":"2.0","id":10,"method":"ping","params":{"pad":"' + b"x" * 3 * MAX_LINE + b'"}}',
        None,
        -32600,
    ),
}


class Wire:
    """Raw JSON-RPC lines to and from the server process; every stdout line must be JSON."""

    def __init__(self, process: Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        self._stdin = process.stdin
        self._stdout = BufferedByteReceiveStream(process.stdout)

    async def send(self, line: bytes) -> None:
        await self._stdin.send(line if line.endswith(b"\n") else line + b"\n")

    async def receive(self) -> dict[str, Any]:
        line = await self._stdout.receive_until(b"\n", 1 << 20)
        message: dict[str, Any] = json.loads(line)  # stdout carries protocol lines only, each a JSON object
        return message

    async def ask(self, line: bytes) -> dict[str, Any]:
        await self.send(line)
        return await self.receive()

    async def close(self) -> int:
        await self._stdin.aclose()
        return await self._process.wait()


@asynccontextmanager
async def stdio_server(emulator: Emulator, tmp_path: Path) -> AsyncGenerator[Wire]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with (tmp_path / "stderr.log").open("wb") as stderr:
        async with await anyio.open_process(
            [sys.executable, "-c", SERVER], env=_child_env(emulator, data_dir), cwd=ROOT, stderr=stderr
        ) as process:
            wire = Wire(process)
            try:
                yield wire
            finally:
                with anyio.move_on_after(10):
                    await wire.close()
                if process.returncode is None:
                    process.kill()


async def test_every_bad_line_is_answered_and_the_server_keeps_serving(emulator: Emulator, tmp_path: Path) -> None:
    init = {
        "jsonrpc": "2.0",
        "id": "init",
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    }
    with anyio.fail_after(60):  # the child imports the whole server: slow on a loaded machine
        async with stdio_server(emulator, tmp_path) as wire:
            # Before the handshake, a bad line is answered at once (so the first one waits for start-up).
            assert await wire.ask(b"garbage") == {"jsonrpc": "2.0", "id": None, "error": PARSE_ERROR}
            with anyio.fail_after(10):
                assert (await wire.ask(json.dumps(init).encode()))["result"]["serverInfo"]["name"]
                await wire.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
                for name, (line, expected_id, code) in BAD_LINES.items():
                    reply = await wire.ask(line)
                    assert reply["id"] == expected_id and reply["error"]["code"] == code, (name, reply)
                    assert await wire.ask(PING) == {"jsonrpc": "2.0", "id": "p", "result": {}}, name
                # Blank lines carry nothing: the next reply is the ping's. CRLF endings are fine.
                assert await wire.ask(b"\n  \r\n" + PING.rstrip() + b"\r\n") == {
                    "jsonrpc": "2.0",
                    "id": "p",
                    "result": {},
                }
                tools = await wire.ask(b'{"jsonrpc":"2.0","id":"t","method":"tools/list","params":{}}')
                assert "create_call" in {tool["name"] for tool in tools["result"]["tools"]}
                assert await wire.close() == 0
    assert b"Traceback" not in (tmp_path / "stderr.log").read_bytes()


async def test_the_sdk_client_is_served_over_run_stdio(emulator: Emulator, tmp_path: Path) -> None:
    """The modern era (the raw test above speaks the handshake era)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    params = StdioServerParameters(
        command=sys.executable, args=["-c", SERVER], env=_child_env(emulator, data_dir), cwd=ROOT
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            assert client.protocol_version == "2026-07-28"
            assert "create_call" in {tool.name for tool in (await client.list_tools()).tools}
