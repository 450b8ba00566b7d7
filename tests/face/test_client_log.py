"""MCP logging: the capability, logging/setLevel, and our records reaching the client in both eras."""

from __future__ import annotations

import logging

import anyio
import pytest
from mcp import Client
from mcp.types import LoggingMessageNotificationParams

from tests.conftest import API_KEY
from tests.helpers import CUSTOMER, call_ok
from vapi_mcp.face import create_server
from vapi_mcp.face.client_log import mcp_level
from vapi_mcp.settings import Settings


def test_python_levels_map_to_mcp_levels() -> None:
    assert [mcp_level(n) for n in (5, 10, 20, 25, 30, 40, 50, 60)] == [
        "debug",
        "debug",
        "info",
        "notice",
        "warning",
        "error",
        "critical",
        "emergency",
    ]


async def test_legacy_client_sets_a_level_and_hears_background_records(settings: Settings) -> None:
    received: list[LoggingMessageNotificationParams] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        received.append(params)

    with anyio.fail_after(15):
        async with Client(create_server(settings), mode="legacy", logging_callback=on_log) as client:  # type: ignore[arg-type]
            assert client.server_capabilities.logging is not None
            info = await call_ok(client, "create_call", {"customer_number": CUSTOMER, "assistant_id": "a"})
            await anyio.sleep(0.3)
            assert received == [], "nothing is sent before the client asks"
            await client.set_logging_level("info")
            await call_ok(client, "create_call", {"customer_number": CUSTOMER, "assistant_id": "a"})
            while not any("created call" in str(p.data) for p in received):
                await anyio.sleep(0.02)
            await client.set_logging_level("error")
            seen = len(received)
            await call_ok(client, "create_call", {"customer_number": CUSTOMER, "assistant_id": "a"})
            await anyio.sleep(0.3)
            assert len(received) == seen, "records below the level set are not sent"
    assert all(p.logger and p.logger.startswith("vapi_mcp") for p in received)
    assert all(API_KEY not in str(p.data) and "/listen" not in str(p.data) for p in received)
    assert info["call_id"]


@pytest.mark.parametrize("level", ["info"])
async def test_modern_client_opts_in_per_request(settings: Settings, level: str) -> None:
    received: list[LoggingMessageNotificationParams] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        received.append(params)

    with anyio.fail_after(15):
        async with Client(create_server(settings), logging_callback=on_log, log_level=level) as client:  # type: ignore[arg-type]
            info = await call_ok(client, "create_call", {"customer_number": CUSTOMER, "assistant_id": "a"})
            await anyio.sleep(0.1)
    assert any(f"created call {info['call_id']}" in str(p.data) for p in received)


async def test_the_operators_log_level_comes_back_when_the_server_stops(settings: Settings) -> None:
    logger = logging.getLogger("vapi_mcp")
    before = logger.level
    with anyio.fail_after(15):
        async with Client(create_server(settings), mode="legacy") as client:  # type: ignore[arg-type]
            await client.set_logging_level("debug")
            assert logger.level == logging.DEBUG
    assert logger.level == before
