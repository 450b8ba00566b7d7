"""The fleet part of ``vapi-mcp demo``: three troubled calls at once, one agent loop on the inbox.

Each emulated call has its own trouble (dead air, talk-over, an angry customer); the agent sets the alert
rules, then follows the fleet inbox with ``wait_for_event`` and no call id, and steers the call each alert
names, as the ``supervise_fleet`` prompt tells an agent to.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp import Client

from vapi_mcp.emulator import EmulatorOptions, running_emulator
from vapi_mcp.face import create_server
from vapi_mcp.settings import Settings

__all__ = ["TROUBLES", "run_fleet"]

CUSTOMER = "+14155550123"
TROUBLES = ("dead-air", "talk-over", "angry")
"""The emulator scenarios of the three calls."""

RULES = {"keywords": {"phrases": ["cancel my account", "manager"]}, "dead_air": {"after_s": 3}}

WHISPERS = {
    "keywords": "The caller is upset: apologise, do not argue, and offer to connect a manager.",
    "dead_air": "Nobody has spoken for a while: check the caller is still there.",
    "talk_over": "You are talking over the caller: stop, let them finish, then answer briefly.",
}


async def _tool(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    if result.is_error:
        return {"error": " ".join(getattr(block, "text", "") for block in result.content)}
    return result.structured_content or {}


async def run_fleet(say: Callable[[str], None], data_dir: Path, time_scale: float) -> int:
    """Place the three calls, run the inbox loop until all have ended; 0 when every trouble was flagged."""
    key = secrets.token_urlsafe(24)
    async with running_emulator(EmulatorOptions(api_key=key, time_scale=time_scale)) as emu:
        settings = Settings.model_validate(
            {"api_key": key, "base_url": emu.base_url, "data_dir": data_dir, "poll_interval_s": 0.1}
        )
        async with Client(create_server(settings)) as client:
            say("fleet: three calls at once, each with its own trouble; one agent loop on the inbox")
            await _tool(client, "set_alert_rules", {"rules": RULES})
            say(f"set_alert_rules (defaults) → keywords {RULES['keywords']['phrases']}, dead_air after 3 s")
            names: dict[str, str] = {}
            for trouble in TROUBLES:
                args = {"customer_number": CUSTOMER, "assistant": {"metadata": {"emulatorScenario": trouble}}}
                info = await _tool(client, "create_call", args)
                if "error" in info:
                    say(f"create_call failed: {info['error']}")
                    return 1
                names[info["call_id"]] = trouble
            return await _inbox_loop(client, names, say)


async def _inbox_loop(client: Client, names: dict[str, str], say: Callable[[str], None]) -> int:
    ended: set[str] = set()
    flagged: set[str] = set()
    after = 0
    for _ in range(200):
        if ended >= set(names):
            break
        got = await _tool(client, "wait_for_event", {"after_seq": after, "timeout_s": 10})
        after = got.get("next_seq", after)
        for event in got.get("events", []):
            data = event["data"]
            call = f"{names.get(data['call_id'], '?')} call"
            if event["type"] == "call.added":
                say(f"  inbox #{event['seq']} call.added   {call} ({data['status']})")
            elif event["type"] == "call.ended":
                ended.add(data["call_id"])
                say(
                    f"  inbox #{event['seq']} call.ended   {call}: {data['endedReason']}, {data['alerts']} alert(s), "
                    f"{data.get('duration_s', 0):.1f} s, longest silence {data.get('longest_silence_s', 0):.1f} s"
                )
            elif event["type"] == "alert":
                flagged.add(names.get(data["call_id"], "?"))
                say(f"  inbox #{event['seq']} alert {data['rule']} ({data['severity']}) {call}: {data['message']}")
                await _react(client, data, call, say)
    missed = set(names.values()) - flagged
    if missed:
        say(f"fleet: no alert for {', '.join(sorted(missed))}")
        return 1
    say("fleet: every trouble was flagged in the inbox and handled")
    return 0


async def _react(client: Client, alert: dict[str, Any], call: str, say: Callable[[str], None]) -> None:
    whisper = WHISPERS.get(alert["rule"])
    if whisper is None:
        return
    args = {"call_id": alert["call_id"], "content": whisper, "trigger_response": False}
    result = await _tool(client, "add_message", args)
    say(f"    → add_message to the {call}: {result.get('detail') or result.get('error', '')[:80]}")
