"""The whole emulator driven by Vapi's own Python SDK (vapi-server-sdk): the strongest fidelity check there is.

Whatever the SDK sends (its REST calls, and its control-message types serialised its way) the emulator must take
as Vapi would. The SDK types ``limit`` and ``maxMessages`` as floats and sends ``2.0`` / ``10.0``: Vapi, on
JavaScript numbers, takes them as the integers they are.

The SDK pins an older pydantic-core than the rest of the tree, so it is in the ``test`` extra (CI installs it);
where it is not installed this module is skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from tests.emulator.common import KEY, emulator_options
from vapi_mcp.emulator import Emulator, running_emulator

pytest.importorskip("vapi.types", reason="vapi-server-sdk (Vapi's Python SDK) is not installed")
httpx = pytest.importorskip("httpx")  # the SDK's own HTTP client

from vapi import AsyncVapi  # noqa: E402 - after the skip
from vapi.types import (  # noqa: E402
    AssistantOverrides,
    ClientInboundMessageMessage_AddMessage,
    ClientInboundMessageMessage_AppendContext,
    ClientInboundMessageMessage_Control,
    ClientInboundMessageMessage_EndCall,
    ClientInboundMessageMessage_Say,
    ClientInboundMessageMessage_Transfer,
    ClientInboundMessageTransferDestination_Number,
    CreateCustomerDto,
    HandoffDestinationAssistant,
    HandoffDestinationAssistantContextEngineeringPlan_LastNMessages,
    MonitorPlan,
    OpenAiMessage,
    TransferPlan,
)

CUSTOMER = CreateCustomerDto(number="+14155550123")
MONITORED = AssistantOverrides(monitor_plan=MonitorPlan(listen_enabled=True, control_enabled=True))


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with running_emulator(emulator_options("open-ended", saved_monitoring=False)) as emulator:
        yield emulator


def sdk(emu: Emulator) -> AsyncVapi:
    return AsyncVapi(token=KEY, base_url=str(emu.base_url))


async def in_progress(client: AsyncVapi, call_id: str) -> Any:
    while (call := await client.calls.get(call_id)).status != "in-progress":
        await anyio.sleep(0.01)
    return call


async def test_create_get_and_list_with_a_float_limit(emu: Emulator) -> None:
    client = sdk(emu)
    with anyio.fail_after(20):
        created = [
            await client.calls.create(assistant_id="asst-1", customer=CUSTOMER, assistant_overrides=MONITORED)
            for _ in range(3)
        ]
        first = created[0]
        assert first.status == "queued" and first.monitor is not None
        assert first.monitor.listen_url and first.monitor.control_url
        got = await client.calls.get(first.id)
        assert got.id == first.id and got.customer is not None and got.customer.number == "+14155550123"
        listed = await client.calls.list(limit=2.0)  # sent as limit=2.0
        assert [call.id for call in listed] == [created[2].id, created[1].id]
        assert [call.id for call in await client.calls.list(assistant_id="asst-1", limit=1)] == [created[2].id]


async def test_squads_take_the_monitor_plan_from_squad_overrides(emu: Emulator) -> None:
    client = sdk(emu)
    with anyio.fail_after(20):
        ignored = await client.calls.create(squad_id="squad-1", customer=CUSTOMER, assistant_overrides=MONITORED)
        assert ignored.monitor is None or not (ignored.monitor.listen_url or ignored.monitor.control_url)
        applied = await client.calls.create(squad_id="squad-1", customer=CUSTOMER, squad_overrides=MONITORED)
        assert applied.monitor is not None and applied.monitor.listen_url and applied.monitor.control_url


async def test_every_control_message_the_sdk_can_build_is_accepted(emu: Emulator) -> None:
    client = sdk(emu)
    with anyio.fail_after(20):
        created = await client.calls.create(assistant_id="asst-1", customer=CUSTOMER, assistant_overrides=MONITORED)
        call = await in_progress(client, created.id)
        warm = TransferPlan(mode="warm-transfer-say-message", message="Ada is calling about her invoice.")
        handoff = HandoffDestinationAssistant(
            type="assistant",
            assistant_id="asst-2",
            context_engineering_plan=HandoffDestinationAssistantContextEngineeringPlan_LastNMessages(max_messages=10),
        )
        messages: list[dict[str, Any]] = [
            ClientInboundMessageMessage_Say(
                content="A supervisor has joined.", interrupt_assistant_enabled=True
            ).dict(),
            ClientInboundMessageMessage_AddMessage(
                message=OpenAiMessage(role="system", content="Offer 10%."), trigger_response_enabled=False
            ).dict(),
            ClientInboundMessageMessage_Control(control="mute-customer").dict(),
            ClientInboundMessageMessage_AppendContext(kind="thinking", content="The customer is a VIP.").dict(),
            # No SDK union has handoff (reference §1.2): its destination type is the SDK's, sent as Vapi's docs say.
            {"type": "handoff", "destination": handoff.dict(), "content": "Handing you to billing."},
        ]
        assert messages[-1]["destination"]["contextEngineeringPlan"]["maxMessages"] == 10.0  # a float on the wire
        async with httpx.AsyncClient() as http:
            url = call.monitor.control_url
            for message in messages:
                response = await http.post(url, json=message)
                assert response.status_code == 200, (message, response.text)
            destination = ClientInboundMessageTransferDestination_Number(number="+14155550199", transfer_plan=warm)
            transfer = ClientInboundMessageMessage_Transfer(destination=destination, content="Transferring you now.")
            assert (await http.post(url, json=transfer.dict())).status_code == 200
            other = await in_progress(
                client,
                (await client.calls.create(assistant_id="asst-1", customer=CUSTOMER, assistant_overrides=MONITORED)).id,
            )
            ending = await http.post(other.monitor.control_url, json=ClientInboundMessageMessage_EndCall().dict())
            assert ending.status_code == 200
        view = emu.view(call.id)
        assert view["assistant"] == "asst-2" and view["muted"]["customer"] is True
        assert view["said"][:1] == ["A supervisor has joined."]
        assert view["transfers"][0]["destination"]["transferPlan"]["message"] == "Ada is calling about her invoice."
        for call_id, reason in ((call.id, "assistant-forwarded-call"), (other.id, "manually-canceled")):
            while (ended := await client.calls.get(call_id)).status != "ended":
                await anyio.sleep(0.01)
            assert ended.ended_reason == reason
