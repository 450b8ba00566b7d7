"""No log line, tool result or resource ever holds the API key, the public key or a monitor URL."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.conftest import API_KEY, make_settings
from tests.helpers import CUSTOMER, create_call, text_of, wait_status
from vapi_mcp.emulator import EmulatorOptions, running_emulator
from vapi_mcp.face import create_server

PUBLIC_KEY = "test-public-key-9876543210"


def _capabilities(emu: Any, call_id: str) -> list[str]:
    """A call's monitor URLs and their unguessable token segment."""
    call = emu.calls[call_id]
    monitor = call.to_api()["monitor"]
    return [monitor["listenUrl"], monitor["controlUrl"], call.token]


async def test_nothing_leaks_anywhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    options = EmulatorOptions(api_key=API_KEY, public_key=PUBLIC_KEY, scenario="quick", time_scale=4.0)
    with caplog.at_level(logging.DEBUG):
        async with running_emulator(options) as emu:
            settings = make_settings(emu, tmp_path, public_key=PUBLIC_KEY, poll_interval_s=0.05)
            async with Client(create_server(settings)) as client:
                with anyio.fail_after(30):
                    call_id = await create_call(client, listen=True)
                    call = emu.calls[call_id].body
                    monitor_plan = call["assistantOverrides"]["monitorPlan"]
                    assert monitor_plan["listenAuthenticationEnabled"] and monitor_plan["controlAuthenticationEnabled"]
                    for tool, args in [
                        ("get_call", {}),
                        ("list_calls", {"limit": 10}),
                        ("attach_call", {"listen": True}),
                        ("wait_for_event", {"types": ["speech.started"], "after_seq": 0}),
                        ("say", {"content": "hello"}),
                        ("control_call", {"action": "mute-customer"}),
                        ("get_call_events", {"limit": 500}),
                        ("get_audio_summary", {}),
                        ("transfer_call", {"destination": "not a number"}),
                    ]:
                        result = await client.call_tool(tool, {"call_id": call_id, **args})
                        seen.append(json.dumps(result.structured_content))
                        seen.append(text_of(result))
                    await wait_status(client, call_id, "ended", timeout=20)
                    resources = [str(r.uri) for r in (await client.list_resources()).resources]
                    resources += [
                        f"vapi://calls/{call_id}/{leaf}" for leaf in ("events", "audio-summary", "transcript")
                    ]
                    for uri in resources:
                        for content in (await client.read_resource(uri)).contents:
                            seen.append(getattr(content, "text", ""))
                    recording = await client.read_resource(f"vapi://calls/{call_id}/recording.wav")
                    seen.append(base64.b64decode(recording.contents[0].blob).decode("latin-1"))  # type: ignore[union-attr]
                    # The listen session authenticated with the public key and streamed audio.
                    args = {"call_id": call_id, "types": ["listen.connected"]}
                    events = await client.call_tool("get_call_events", args)
                    assert events.structured_content and events.structured_content["events"]
            secrets = [API_KEY, PUBLIC_KEY, *_capabilities(emu, call_id)]
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(str(record.exc_info[1]) for record in caplog.records if record.exc_info)
    seen.extend(path.read_text(errors="replace") for path in tmp_path.rglob("*.jsonl"))  # noqa: ASYNC240
    haystack = "\n".join(seen)
    assert len(caplog.records) > 20, "the test must actually capture the server's logs"
    for secret in secrets:
        assert secret not in haystack, f"a secret leaked ({secret[:6]}…)"
    assert "/listen" not in haystack and "/control" not in haystack


def test_stdio_server_stderr_holds_no_secret(tmp_path: Path) -> None:
    """The real process at DEBUG: its whole stderr is clean."""
    script = f"""
import anyio, sys
from mcp import Client, StdioServerParameters, stdio_client
from vapi_mcp.emulator import EmulatorOptions, running_emulator

async def main():
    async with running_emulator(EmulatorOptions(api_key={API_KEY!r}, scenario="quick", time_scale=4.0)) as emu:
        env = {{"PATH": "", "VAPI_API_KEY": {API_KEY!r}, "VAPI_BASE_URL": emu.base_url,
               "VAPI_MCP_DATA_DIR": {str(tmp_path)!r}}}
        params = StdioServerParameters(command=sys.executable, args=["-m", "vapi_mcp", "--log-level", "DEBUG"], env=env)
        errlog = open({str(tmp_path / "stderr.txt")!r}, "w")
        async with Client(stdio_client(params, errlog=errlog)) as client:
            r = await client.call_tool("create_call", {{"customer_number": {CUSTOMER!r}, "assistant_id": "a"}})
            call_id = r.structured_content["call_id"]
            wait = {{"call_id": call_id, "types": ["speech.started"], "after_seq": 0}}
            await client.call_tool("wait_for_event", wait)
            await client.call_tool("say", {{"call_id": call_id, "content": "hi"}})
        print(emu.calls[call_id].to_api()["monitor"]["listenUrl"])
        print(emu.calls[call_id].token)

anyio.run(main)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env={**os.environ}, cwd=Path.cwd()
    )
    assert out.returncode == 0, out.stderr[-2000:]
    listen_url, token = out.stdout.split()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "DEBUG" in stderr, "the server must actually have logged at DEBUG"
    for secret in (API_KEY, listen_url, token):
        assert secret not in stderr
