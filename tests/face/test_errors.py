"""Bad input and Vapi failures give a clear isError result, nothing reaches Vapi, and the server keeps serving."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.conftest import make_settings
from tests.helpers import CUSTOMER, call_err, call_ok, live_call, wait_status
from vapi_mcp.emulator import Emulator, FaultRule
from vapi_mcp.face import create_server


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("create_call", {"customer_number": "4155550123", "assistant_id": "a"}, "customer_number"),
        ("create_call", {"customer_number": "+1 415 555", "assistant_id": "a"}, "customer_number"),
        ("create_call", {"customer_number": CUSTOMER}, "exactly one of"),
        ("create_call", {"customer_number": CUSTOMER, "assistant_id": "a", "squad_id": "s"}, "exactly one of"),
        ("say", {"call_id": "c1", "content": ""}, "content"),
        ("say", {"call_id": "c1", "content": "   "}, "content"),
        ("say", {"call_id": "c1", "content": "x" * 100_000}, "content"),
        ("say", {"call_id": "../../etc", "content": "hi"}, "call_id"),
        ("add_message", {"call_id": "c1", "content": "hi", "role": "tool"}, "role"),
        ("control_call", {"call_id": "c1", "action": "mute-everyone"}, "action"),
        ("transfer_call", {"call_id": "c1", "destination": "555-0123"}, "neither an E.164 number"),
        ("transfer_call", {"call_id": "c1", "destination": "sip:bad uri@x"}, "neither an E.164 number"),
        ("transfer_call", {"call_id": "c1", "destination": "http://evil.example"}, "neither an E.164"),
        ("transfer_call", {"call_id": "c1", "destination": "+14155550199", "mode": "teleport"}, "mode"),
        ("handoff_call", {"call_id": "c1"}, "exactly one of assistant_id or assistant"),
        ("handoff_call", {"call_id": "c1", "assistant_id": "a", "context": "lastNMessages"}, "needs max_messages"),
        ("wait_for_event", {"call_id": "c1", "timeout_s": 51}, "timeout_s"),
        ("list_calls", {"limit": 0}, "limit"),
    ],
)
async def test_bad_input_is_a_clear_tool_error(
    client: Client, emulator: Emulator, tool: str, args: dict[str, object], expected: str
) -> None:
    with anyio.fail_after(10):
        text = await call_err(client, tool, args)
        assert expected in text
        assert "Traceback" not in text
        assert emulator.request_log == [] or all(entry.method == "GET" for entry in emulator.request_log)
        # …and the server is still serving.
        await call_ok(client, "list_calls", {"limit": 1})


async def test_unknown_call_id(client: Client) -> None:
    with anyio.fail_after(10):
        for tool, args in [
            ("get_call", {}),
            ("say", {"content": "hi"}),
            ("end_call", {}),
            ("attach_call", {}),
        ]:
            text = await call_err(client, tool, {"call_id": "no-such-call", **args})
            assert "not found" in text and "CallNotFound" in text
        text = await call_err(client, "get_call_events", {"call_id": "no-such-call"})
        assert "attach_call" in text


async def test_ended_call(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        await call_ok(client, "end_call", {"call_id": call_id})
        await wait_status(client, call_id, "ended")
        sent_before = len(emulator.control_log(call_id))
        for tool, args in [
            ("say", {"content": "hello?"}),
            ("end_call", {}),
            ("control_call", {"action": "mute-customer"}),
        ]:
            text = await call_err(client, tool, {"call_id": call_id, **args})
            assert "has ended" in text and "manually-canceled" in text
        assert len(emulator.control_log(call_id)) == sent_before, "nothing is sent for an ended call"


async def test_vapi_4xx_on_create(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(10):
        emulator.add_fault(FaultRule(route="create", status=400))
        text = await call_err(client, "create_call", {"customer_number": CUSTOMER, "assistant_id": "a"})
        assert "Vapi error 400" in text
        await call_ok(client, "list_calls", {"limit": 1})


async def test_vapi_5xx_on_control_is_not_retried(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        emulator.add_fault(FaultRule(route="control", status=503))
        before = len(emulator.control_log(call_id))
        text = await call_err(client, "say", {"call_id": call_id, "content": "once"})
        assert "503" in text
        assert len(emulator.control_log(call_id)) - before <= 1
        failed = await call_ok(client, "get_call_events", {"call_id": call_id, "types": ["control.sent"]})
        assert failed["events"][-1]["data"]["ok"] is False
        await call_ok(client, "say", {"call_id": call_id, "content": "works again"})


async def test_rate_limited_get_is_retried(client: Client, emulator: Emulator) -> None:
    with anyio.fail_after(15):
        call_id = await live_call(client)
        emulator.add_fault(FaultRule(route="get", status=429, retry_after=0.2, times=2))
        info = await call_ok(client, "get_call", {"call_id": call_id})
        assert info["status"] == "in-progress"


async def test_control_timeout_is_delivery_unknown(emulator: Emulator, tmp_path: Path, era: str) -> None:
    settings = make_settings(emulator, tmp_path, control_timeout_s=0.5)
    async with Client(create_server(settings), mode=era) as client:  # type: ignore[arg-type]
        with anyio.fail_after(20):
            call_id = await live_call(client)
            emulator.add_fault(FaultRule(route="control", delay_s=2.0))
            before = len(emulator.control_log(call_id))
            text = await call_err(client, "say", {"call_id": call_id, "content": "say it once"})
            assert "DeliveryUnknown" in text and "not retried" in text
            await anyio.sleep(2.0)
            assert len(emulator.control_log(call_id)) - before == 1, "a say must never be sent twice"
            page = await call_ok(client, "get_call_events", {"call_id": call_id, "types": ["control.sent"]})
            assert page["events"][-1]["data"]["ok"] is None, "an unknown outcome is logged as such"
            await call_ok(client, "get_call", {"call_id": call_id})
