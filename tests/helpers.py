"""Small helpers for driving the server through the SDK client."""

from __future__ import annotations

import json
from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult, TextContent

CUSTOMER = "+14155550123"


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
