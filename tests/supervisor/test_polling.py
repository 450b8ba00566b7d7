"""Status polling against the emulator: one list request per interval for the fleet, ~none with webhooks."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.conftest import API_KEY, make_settings
from tests.helpers import CUSTOMER, create_call
from tests.webhooks import supervised, webhook_options
from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator
from vapi_mcp.supervisor import running_supervisor


def status_reads(emulator: Emulator, since: int = 0) -> tuple[int, int]:
    """(GET /call/{id}, GET /call) requests the emulator answered after the first ``since`` requests."""
    log = emulator.request_log[since:]
    return (
        sum(r.method == "GET" and r.path == "/call/{id}" for r in log),
        sum(r.method == "GET" and r.path == "/call" for r in log),
    )


@pytest.fixture
def emulator_options() -> EmulatorOptions:
    return EmulatorOptions(api_key=API_KEY, scenario="open-ended", time_scale=10.0)


async def test_one_list_request_per_interval_covers_every_live_call(emulator: Emulator, tmp_path: Path) -> None:
    settings = make_settings(emulator, tmp_path / "data", poll_interval_s=0.2)
    with anyio.fail_after(30):
        async with running_supervisor(settings) as sup:
            ids = [
                (await sup.create_call(customer_number=CUSTOMER, assistant_id="a", listen=False)).call_id
                for _ in range(6)
            ]
            while not all(sup.calls[call_id].call.status == "in-progress" for call_id in ids):
                await anyio.sleep(0.05)
            since = len(emulator.request_log)
            started = anyio.current_time()
            await anyio.sleep(2.0)
            elapsed = anyio.current_time() - started
            by_id, lists = status_reads(emulator, since)
            assert by_id == 0
            assert 1 <= lists <= elapsed / (0.2 * 0.9) + 1  # one per interval, whatever the number of calls
            await sup.end_call(ids[0])
            while not sup.calls[ids[0]].ended:  # the next list read brings the end
                await anyio.sleep(0.05)
            assert sup.calls[ids[0]].call.ended_reason == "manually-canceled"
            assert not any(sup.calls[call_id].ended for call_id in ids[1:])


async def test_pages_follow_one_another_when_the_fleet_is_bigger_than_a_page(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vapi_mcp.supervisor import polling

    # Five calls, two a page: pages overlap by one call (createdAtLe, so that calls created in the same
    # millisecond are never skipped), so four pages.
    monkeypatch.setattr(polling, "PAGE_LIMIT", 2)
    settings = make_settings(emulator, tmp_path / "data", poll_interval_s=60)
    with anyio.fail_after(30):
        async with running_supervisor(settings) as sup:
            for _ in range(5):
                await sup.create_call(customer_number=CUSTOMER, assistant_id="a", listen=False)
                await anyio.sleep(0.01)  # distinct createdAt
            poller = sup._poller  # pyright: ignore[reportPrivateUsage]
            since = len(emulator.request_log)
            for sup_call in sup.calls.values():
                sup_call.polled_at = 0.0
            await poller.poll(list(sup.calls.values()))
            assert status_reads(emulator, since) == (0, 4)


async def test_with_webhooks_a_ten_second_call_is_polled_at_most_twice(tmp_path: Path) -> None:
    # Ten call seconds in 5 s: polled every 0.2 s it would still be read ~25 times; the safety net is 30 s.
    options = webhook_options(scenario="long:10", time_scale=2.0, server_messages=("status-update",))
    async with running_emulator(options) as emulator:
        async with supervised(emulator, tmp_path, poll_interval_s=0.2) as sup:
            with anyio.fail_after(40):
                call_id = await create_call(sup.client)
                since = len(emulator.request_log)
                while not (call_id in sup.supervisor.calls and sup.supervisor.calls[call_id].ended):
                    await anyio.sleep(0.1)  # watched in process, not through get_call (a read of its own)
        by_id, lists = status_reads(emulator, since)
        assert emulator.calls[call_id].audio.position_s >= 9.5
        assert by_id + lists <= 2, (by_id, lists)  # polled every 0.2 s, it would have been ~25
