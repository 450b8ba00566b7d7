"""Alerts, the inbox and confirmations through the real process, over stdio and streamable HTTP, both eras."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitRequestParams, ElicitResult

from tests.conftest import API_KEY, ERAS
from tests.face.test_transports import TOKEN, _child_env, http_process  # pyright: ignore[reportPrivateUsage]
from tests.face.tools.test_fleet import inbox_until_ended
from tests.helpers import call_err, call_ok, live_call, wait_status
from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator

RULES = '{"dead_air": {"after_s": 3}}'


async def decline(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="decline")


async def _dead_air_and_a_declined_end(client: Client, emulator: Emulator) -> None:
    info = await call_ok(
        client,
        "create_call",
        {"customer_number": "+14155550123", "assistant": {"metadata": {"emulatorScenario": "dead-air"}}},
    )
    # The child polls statuses every 2 s; reading the call makes it learn "in-progress" (and listen) at once,
    # so that listening starts with the call and call times compare with the script's.
    await wait_status(client, info["call_id"], "in-progress", timeout=20)
    inbox = await inbox_until_ended(client, {info["call_id"]}, timeout=40)
    alerts = [e["data"] for e in inbox if e["type"] == "alert"]
    assert [a["rule"] for a in alerts] == ["dead_air"] and abs(alerts[0]["at_s"] - 6.4) <= 0.5, alerts
    call_id = await live_call(client)  # the emulator's default scenario stays open
    text = await call_err(client, "end_call", {"call_id": call_id})
    assert "declined" in text and emulator.control_log(call_id) == []


@pytest.fixture
async def open_emulator() -> Any:
    options = EmulatorOptions(api_key=API_KEY, scenario="open-ended", time_scale=2.0)
    async with running_emulator(options) as emu:
        yield emu


@pytest.mark.parametrize("era", ERAS)
async def test_over_stdio(open_emulator: Emulator, tmp_path: Path, era: str) -> None:
    env = _child_env(open_emulator, tmp_path, VAPI_MCP_ALERT_RULES=RULES)
    params = StdioServerParameters(command=sys.executable, args=["-m", "vapi_mcp"], env=env, cwd=str(Path.cwd()))
    with anyio.fail_after(60):
        async with Client(params, mode=era, elicitation_callback=decline) as client:  # type: ignore[arg-type]
            await _dead_air_and_a_declined_end(client, open_emulator)


@pytest.mark.parametrize("era", ERAS)
async def test_over_http(open_emulator: Emulator, tmp_path: Path, era: str) -> None:
    with http_process(open_emulator, tmp_path, VAPI_MCP_ALERT_RULES=RULES) as (_, url):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with anyio.fail_after(60):
            async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http:
                transport = streamable_http_client(url, http_client=http)
                async with Client(transport, mode=era, elicitation_callback=decline) as client:  # type: ignore[arg-type]
                    await _dead_air_and_a_declined_end(client, open_emulator)
