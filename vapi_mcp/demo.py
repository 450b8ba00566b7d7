"""``vapi-mcp demo``: a narrated, supervised call against the bundled emulator.

An in-process MCP client (the SDK's own ``Client``) drives the real server exactly as an
agent would: it creates a call, follows it live through a resource subscription, steers it
with every kind of control message, and prints what the emulated Vapi saw. Then a fleet of three
troubled calls is supervised from the inbox (:mod:`vapi_mcp.demo_fleet`).
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.subscriptions import ResourceUpdated

from vapi_mcp.demo_fleet import run_fleet
from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator
from vapi_mcp.face import create_server
from vapi_mcp.settings import Settings, default_data_dir

__all__ = ["run_demo"]

CUSTOMER = "+14155550123"
ALLOWED_DESK = "+14155550199"


class Narrator:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {text}", flush=True)


async def _tool(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    if result.is_error:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        return {"error": text}
    return result.structured_content or {}


def _view(emu: Emulator, call_id: str) -> str:
    view = emu.view(call_id)
    keys = ("status", "endedReason", "muted", "listeners", "said")
    return ", ".join(f"{key}={view[key]!r}" for key in keys if key in view)


async def _follow(client: Client, call_id: str, narrator: Narrator) -> None:
    """Subscribe to the call's events; on each update read what is new with the tool twin."""
    uri = f"vapi://calls/{call_id}/events"
    cursor = 0
    async with client.listen(resource_subscriptions=[uri]) as updates:
        async for update in updates:
            if not isinstance(update, ResourceUpdated) or update.uri != uri:
                continue
            page = await _tool(client, "get_call_events", {"call_id": call_id, "after_seq": cursor})
            cursor = page.get("next_seq", cursor)
            for event in page.get("events", []):
                line = _describe_event(event)
                if line:
                    narrator.say(f"  ⟵ {line}")


def _describe_event(event: dict[str, Any]) -> str | None:
    kind, data = event["type"], event["data"]
    if kind in ("speech.started", "speech.stopped"):
        verb = "starts" if kind == "speech.started" else f"stops ({data.get('duration_s', 0):.1f}s)"
        return f"{data['party']} {verb} speaking"
    if kind == "transcript" and data.get("final"):
        return f'transcript {data["role"]}: "{data["text"]}"'
    if kind in ("silence", "overlap"):
        return f"{kind} {data}"
    if kind in ("call.status", "listen.connected", "listen.closed", "listen.reconnecting"):
        return f"{kind} {data}"
    if kind == "control.sent":
        return f"control.sent {data.get('type')} ok={data.get('ok')}"
    return None


async def run_demo(time_scale: float = 1.0) -> int:
    narrator = Narrator()
    key = secrets.token_urlsafe(24)
    data_dir = default_data_dir() / "demo"
    # end_when_done=False: the scripted conversation plays, then the line stays open until we act.
    options = EmulatorOptions(api_key=key, time_scale=time_scale, end_when_done=False)
    async with running_emulator(options) as emu:
        settings = Settings.model_validate(
            {
                "api_key": key,
                "base_url": emu.base_url,
                "data_dir": data_dir,
                "poll_interval_s": 0.1,
                "transfer_allowlist": (ALLOWED_DESK, "sip:*@pbx.example.com"),
            }
        )
        narrator.say(f"emulated Vapi listening on {emu.base_url}; MCP server built in-process")
        async with Client(create_server(settings)) as client:
            narrator.say(f"MCP client connected (protocol {client.protocol_version})")
            tools = [tool.name for tool in (await client.list_tools()).tools]
            narrator.say(f"{len(tools)} tools: {', '.join(tools)}")
            code = await _script(client, emu, narrator, data_dir, time_scale)
    if code == 0:
        code = await run_fleet(narrator.say, default_data_dir() / "demo-fleet", time_scale)
    return code


async def _script(client: Client, emu: Emulator, narrator: Narrator, data_dir: Path, time_scale: float) -> int:
    step = narrator.say

    async def pause(call_seconds: float) -> None:
        await anyio.sleep(call_seconds / time_scale)

    info = await _tool(client, "create_call", {"customer_number": CUSTOMER, "assistant_id": "asst-support"})
    if "error" in info:
        step(f"create_call failed: {info['error']}")
        return 1
    call_id = info["call_id"]
    step(f"create_call → {call_id} ({info['status']}), listening in the background")
    async with anyio.create_task_group() as tg:
        tg.start_soon(_follow, client, call_id, narrator)
        wait = await _tool(
            client, "wait_for_event", {"call_id": call_id, "types": ["listen.connected"], "after_seq": 0}
        )
        step(f"wait_for_event listen.connected → matched={wait.get('matched')}")
        await pause(2.5)

        r = await _tool(client, "say", {"call_id": call_id, "content": "A supervisor has joined the call."})
        step(f"say → {r.get('detail', r)}   | emulator: {_view(emu, call_id)}")
        await pause(1.0)
        r = await _tool(
            client,
            "add_message",
            {"call_id": call_id, "content": "Offer the customer a 10% discount.", "trigger_response": False},
        )
        step(f"add_message (system, silent) → {r.get('detail', r)}")
        r = await _tool(client, "control_call", {"call_id": call_id, "action": "mute-assistant"})
        step(f"control_call mute-assistant → {r.get('detail', r)}   | emulator: {_view(emu, call_id)}")
        await pause(1.5)
        r = await _tool(client, "control_call", {"call_id": call_id, "action": "unmute-assistant"})
        step(f"control_call unmute-assistant → {r.get('detail', r)}   | emulator: {_view(emu, call_id)}")
        await pause(1.5)
        r = await _tool(client, "transfer_call", {"call_id": call_id, "destination": "+442071838750"})
        step(f"transfer_call to +442071838750 (not allowlisted) → refused: {r.get('error', r)[:110]}…")
        r = await _tool(
            client, "transfer_call", {"call_id": call_id, "destination": ALLOWED_DESK, "message": "Connecting you now."}
        )
        step(f"transfer_call to {ALLOWED_DESK} → {r.get('detail', r)}")
        await _tool(client, "wait_for_event", {"call_id": call_id, "types": ["listen.closed"], "timeout_s": 30})
        await anyio.sleep(0.5)  # one coalescing window, so the follower prints the last events
        tg.cancel_scope.cancel()

    final = await _tool(client, "get_call", {"call_id": call_id})
    step(f"call ended: status={final.get('status')} endedReason={final.get('ended_reason')}")
    step(f"  emulator: {_view(emu, call_id)}")
    second = await _tool(
        client, "create_call", {"customer_number": CUSTOMER, "assistant_id": "asst-support", "listen": False}
    )
    await _wait_status(client, second["call_id"], "in-progress")
    r = await _tool(client, "end_call", {"call_id": second["call_id"]})
    await _wait_status(client, second["call_id"], "ended")
    step(f"second call: end_call → {r.get('detail', r)}; emulator: {_view(emu, second['call_id'])}")

    summary = await _tool(client, "get_audio_summary", {"call_id": call_id})
    _print_summary(summary)
    recording = data_dir / "calls" / call_id / "recording.wav"
    size = recording.stat().st_size if recording.exists() else 0
    step(f"recording (stereo WAV, customer left, assistant right): {recording} ({size:,} bytes)")
    step("done: every step above went through MCP tools; the emulator saw exactly these control messages:")
    for record in emu.control_log(call_id):
        print(f"         {record.status} {record.body}", flush=True)
    return 0


async def _wait_status(client: Client, call_id: str, status: str) -> None:
    """Follow call.status events with the long-poll tool until the call reaches ``status``."""
    cursor = 0
    for _ in range(20):
        args = {"call_id": call_id, "types": ["call.status"], "after_seq": cursor, "timeout_s": 10}
        got = await _tool(client, "wait_for_event", args)
        cursor = got.get("next_seq", cursor)
        if any(event["data"]["status"] == status for event in got.get("events", [])):
            return


def _print_summary(summary: dict[str, Any]) -> None:
    print("\naudio summary", file=sys.stdout)
    print(
        f"  duration {summary.get('duration_s')}s  overlap {summary.get('overlap_s')}s  "
        f"longest silence {summary.get('longest_silence_s')}s  interruptions {summary.get('interruptions')}"
    )
    for party, stats in summary.get("parties", {}).items():
        print(
            f"  {party:9} talk {stats['talk_s']:5.1f}s ({stats['talk_ratio']:.0%})  turns {stats['turns']}  "
            f"mean {stats.get('mean_dbfs')} dBFS  {summary.get('sparkline', {}).get(party, '')}"
        )
    print(flush=True)
