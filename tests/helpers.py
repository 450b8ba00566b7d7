"""Small helpers for driving the server through the SDK client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult, TextContent

from tests.conftest import make_settings
from vapi_mcp.emulator import Emulator
from vapi_mcp.face import create_server
from vapi_mcp.face.http import build_http_server

CUSTOMER = "+14155550123"
HTTP_TOKEN = "http-token-for-tests-0123456789abcdef"


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def call_ok(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    assert result.structured_content is not None
    return result.structured_content


async def call_err(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    return text_of(result)


async def create_call(client: Client, *, listen: bool = False, **extra: Any) -> str:
    args = {"customer_number": CUSTOMER, "assistant_id": "asst-support", "listen": listen, **extra}
    info = await call_ok(client, "create_call", args)
    return str(info["call_id"])


async def wait_status(client: Client, call_id: str, *statuses: str, timeout: float = 10.0) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while True:
            info = await call_ok(client, "get_call", {"call_id": call_id})
            if info["status"] in statuses:
                return info
            await anyio.sleep(0.05)


async def live_call(client: Client, **extra: Any) -> str:
    call_id = await create_call(client, **extra)
    await wait_status(client, call_id, "in-progress")
    return call_id


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    content = result.contents[0]
    return json.loads(content.text)  # type: ignore[union-attr]


@asynccontextmanager
async def http_server(emulator: Emulator, data_dir: Path, **settings_overrides: Any) -> AsyncIterator[str]:
    """The real server on the HTTP transport (an ephemeral port); yields its origin."""
    settings = make_settings(emulator, data_dir, http_token=HTTP_TOKEN, **settings_overrides)
    server = build_http_server(create_server(settings), settings, "127.0.0.1", 0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        while not server.started:
            await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        finally:
            server.should_exit = True
