"""The supervisor's background listening against the emulator: faults around the end of a call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import API_KEY, make_settings
from tests.helpers import CUSTOMER
from vapi_mcp.emulator import EmulatorOptions, FaultRule
from vapi_mcp.supervisor import running_supervisor


@pytest.fixture
def emulator_options() -> EmulatorOptions:
    # "quick" lasts 4 s of call time; the listen socket drops just before the end, without a close frame.
    return EmulatorOptions(api_key=API_KEY, scenario="quick", drop_socket_at_s=3.99)


async def test_a_socket_dropped_as_the_call_ends_closes_even_when_vapi_is_briefly_down(
    emulator: Any, tmp_path: Path
) -> None:
    """Found by bench/soak.py: the "is it over?" GET failed, the reconnect got 404, the session said failed."""
    settings = make_settings(emulator, tmp_path / "data")
    with anyio.fail_after(30):
        async with running_supervisor(settings) as sup:
            call_id = (await sup.create_call(customer_number=CUSTOMER, assistant_id="asst-support")).call_id
            while emulator.view(call_id)["position_s"] < 3.5:
                await anyio.sleep(0.02)
            emulator.add_fault(FaultRule(route="get", status=500, times=3))
            closed = await sup.wait_for_event(call_id, types=["listen.closed"], after_seq=0, timeout_s=20)
            assert closed.matched
            assert closed.events[0].data["reason"] == "call over", closed.events[0].data
            assert sup.info(call_id).listen_state == "closed"
