"""Every control tool, through the SDK client, against the emulator: the exact JSON Vapi receives."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from tests.helpers import CUSTOMER, call_err, call_ok, create_call, live_call, wait_status
from vapi_mcp.emulator import Emulator

CONTROL_TOOLS = {"say", "add_message", "control_call", "end_call", "transfer_call", "handoff_call", "create_call"}
ALL_TOOLS = CONTROL_TOOLS | {
    "attach_call",
    "get_call",
    "list_calls",
    "get_call_events",
    "start_listening",
    "stop_listening",
    "get_audio_summary",
    "wait_for_event",
    "set_alert_rules",
    "open_call_panel",
}


def last_body(emulator: Emulator, call_id: str) -> Any:
    return emulator.control_log(call_id)[-1].body


async def test_tool_list_is_the_contract(client: Client) -> None:
    with anyio.fail_after(10):
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == ALL_TOOLS
    for tool in tools.values():
        ann = tool.annotations
        assert ann is not None, tool.name
        hints = (ann.read_only_hint, ann.destructive_hint, ann.idempotent_hint, ann.open_world_hint)
        assert None not in hints, f"{tool.name} lacks an annotation: {ann}"
        assert tool.output_schema is not None, tool.name
        assert tool.description and len(tool.description) > 30, tool.name
    for name in ("end_call", "transfer_call", "handoff_call"):
        assert tools[name].annotations.destructive_hint is True  # type: ignore[union-attr]
    for name in ("get_call", "list_calls", "get_call_events", "get_audio_summary", "wait_for_event"):
        assert tools[name].annotations.read_only_hint is True  # type: ignore[union-attr]


async def test_create_call_enables_monitoring(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        info = await call_ok(
            client,
            "create_call",
            {"customer_number": CUSTOMER, "assistant_id": "asst-1", "customer_name": "Ada", "listen": False},
        )
        call = emulator.calls[info["call_id"]].body
        assert call["assistantId"] == "asst-1"
        assert call["customer"] == {"number": CUSTOMER, "name": "Ada"}
        assert call["assistantOverrides"]["monitorPlan"]["listenEnabled"] is True
        assert call["assistantOverrides"]["monitorPlan"]["controlEnabled"] is True
        assert info["status"] == "queued"
        assert info["control_available"] is True and info["listen_available"] is True
        assert info["resources"]["events"] == f"vapi://calls/{info['call_id']}/events"
        await wait_status(client, info["call_id"], "in-progress")


async def test_say(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        result = await call_ok(client, "say", {"call_id": call_id, "content": "A supervisor has joined."})
        assert result["type"] == "say" and result["sent"] is True
        assert last_body(emulator, call_id) == {
            "type": "say",
            "content": "A supervisor has joined.",
            "endCallAfterSpoken": False,
            "interruptAssistantEnabled": False,
        }
        await call_ok(
            client,
            "say",
            {"call_id": call_id, "content": "Goodbye.", "end_call_after_spoken": True, "interrupt_assistant": True},
        )
        assert last_body(emulator, call_id) == {
            "type": "say",
            "content": "Goodbye.",
            "endCallAfterSpoken": True,
            "interruptAssistantEnabled": True,
        }
        await wait_status(client, call_id, "ended")


async def test_add_message(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        await call_ok(client, "add_message", {"call_id": call_id, "content": "Offer a 10% discount."})
        assert last_body(emulator, call_id) == {
            "type": "add-message",
            "message": {"role": "system", "content": "Offer a 10% discount."},
            "triggerResponseEnabled": True,
        }
        await call_ok(
            client,
            "add_message",
            {"call_id": call_id, "content": "Noted.", "role": "assistant", "trigger_response": False},
        )
        assert last_body(emulator, call_id) == {
            "type": "add-message",
            "message": {"role": "assistant", "content": "Noted."},
            "triggerResponseEnabled": False,
        }


@pytest.mark.parametrize(
    "action", ["mute-assistant", "unmute-assistant", "mute-customer", "unmute-customer", "say-first-message"]
)
async def test_control_actions(client: Client, emulator: Emulator, action: str) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        await call_ok(client, "control_call", {"call_id": call_id, "action": action})
        assert last_body(emulator, call_id) == {"type": "control", "control": action}
        if action.startswith("mute-"):
            assert emulator.view(call_id)["muted"][action.removeprefix("mute-")] is True


async def test_end_call(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        await call_ok(client, "end_call", {"call_id": call_id})
        assert last_body(emulator, call_id) == {"type": "end-call"}
        info = await wait_status(client, call_id, "ended")
        assert info["ended_reason"] == "manually-canceled"


async def test_transfer_to_number(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        await call_ok(
            client,
            "transfer_call",
            {
                "call_id": call_id,
                "destination": "+14155550199",
                "message": "Please hold while I transfer you.",
                "extension": "101",
                "caller_id": "+14155550000",
                "mode": "warm-transfer-say-summary",
            },
        )
        assert last_body(emulator, call_id) == {
            "type": "transfer",
            "destination": {
                "type": "number",
                "number": "+14155550199",
                "extension": "101",
                "callerId": "+14155550000",
                "transferPlan": {"mode": "warm-transfer-say-summary"},
            },
            "content": "Please hold while I transfer you.",
        }
        info = await wait_status(client, call_id, "ended")
        assert info["ended_reason"] == "assistant-forwarded-call"


async def test_transfer_to_sip(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        await call_ok(client, "transfer_call", {"call_id": call_id, "destination": "sip:agent@pbx.example.com"})
        assert last_body(emulator, call_id) == {
            "type": "transfer",
            "destination": {"type": "sip", "sipUri": "sip:agent@pbx.example.com"},
        }


async def test_warm_transfer_carries_what_its_mode_needs(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        text = await call_err(
            client,
            "transfer_call",
            {"call_id": call_id, "destination": "sip:desk@pbx.example.com", "mode": "warm-transfer-say-message"},
        )
        assert "message" in text and emulator.control_log(call_id) == [], "refused before anything was sent"
        await call_ok(
            client,
            "transfer_call",
            {
                "call_id": call_id,
                "destination": "sip:desk@pbx.example.com",
                "mode": "warm-transfer-say-message",
                "operator_message": "Ada is calling about her invoice.",
            },
        )
        assert last_body(emulator, call_id)["destination"]["transferPlan"] == {
            "mode": "warm-transfer-say-message",
            "message": "Ada is calling about her invoice.",
        }


async def test_handoff(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        await call_ok(
            client,
            "handoff_call",
            {
                "call_id": call_id,
                "assistant_id": "asst-billing",
                "context": "lastNMessages",
                "max_messages": 10,
                "message": "Handing you to a specialist.",
            },
        )
        assert last_body(emulator, call_id) == {
            "type": "handoff",
            "destination": {
                "type": "assistant",
                "assistantId": "asst-billing",
                "contextEngineeringPlan": {"type": "lastNMessages", "maxMessages": 10},
            },
            "content": "Handing you to a specialist.",
        }
        await call_ok(client, "handoff_call", {"call_id": call_id, "assistant": {"name": "night-shift"}})
        assert last_body(emulator, call_id) == {
            "type": "handoff",
            "destination": {
                "type": "assistant",
                "assistant": {"name": "night-shift"},
                "contextEngineeringPlan": {"type": "all"},
            },
        }


async def test_control_is_logged_as_events(client: Client) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        result = await call_ok(client, "say", {"call_id": call_id, "content": "Hello"})
        page = await call_ok(client, "get_call_events", {"call_id": call_id, "types": ["control.sent"]})
        (event,) = page["events"]
        assert event["seq"] == result["event_seq"]
        assert event["data"]["type"] == "say" and event["data"]["ok"] is True
        statuses = await call_ok(client, "get_call_events", {"call_id": call_id, "types": ["call.status"]})
        seen = [e["data"]["status"] for e in statuses["events"]]
        assert seen[0] == "queued" and seen[-1] == "in-progress"


async def test_attach_and_list(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await create_call(client)
        listed = await call_ok(client, "list_calls", {"limit": 5})
        assert call_id in [c["call_id"] for c in listed["calls"]]
        assert next(c for c in listed["calls"] if c["call_id"] == call_id)["supervised"] is True
        attached = await call_ok(client, "attach_call", {"call_id": call_id, "listen": False})
        assert attached["call_id"] == call_id and attached["supervised"] is True
        calls = await client.read_resource("vapi://calls")
        assert call_id in calls.contents[0].text  # type: ignore[union-attr]
        resources = (await client.list_resources()).resources
        assert f"vapi://calls/{call_id}" in [str(r.uri) for r in resources]
