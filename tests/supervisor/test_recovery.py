"""Restart recovery, the supervisor on its own against the emulator over loopback (no MCP; DESIGN §13).

The ``kill -9`` of a real server process is in tests/face/test_restart.py; here a supervisor stops cleanly
and another starts on the same data dir, which is the same path through the recovery.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.conftest import make_settings
from tests.helpers import CUSTOMER
from vapi_mcp.emulator import Emulator, FaultRule
from vapi_mcp.errors import CallNotFound
from vapi_mcp.settings import Settings
from vapi_mcp.supervisor import CallSupervisor, running_supervisor


async def _listened_call(sup: CallSupervisor, heard_s: float) -> str:
    """A call placed and listened to until ``heard_s`` of its audio was analysed."""
    call_id = (await sup.create_call(customer_number=CUSTOMER, assistant_id="asst-1")).call_id
    while (await sup.audio_summary(call_id)).duration_s < heard_s:
        await anyio.sleep(0.05)
    return call_id


def _list_requests(emulator: Emulator) -> int:
    return sum(1 for r in emulator.request_log if r.method == "GET" and r.path == "/call")


def _seqs_ok(sup: CallSupervisor, call_id: str) -> list[str]:
    events = sup.events(call_id, limit=10_000).events
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), "seq strictly increasing, no duplicate, no hole"
    return [e.type for e in events]


async def test_a_restart_lists_the_call_resumes_listening_and_keeps_the_whole_summary(
    settings: Settings, emulator: Emulator
) -> None:
    with anyio.fail_after(40):
        async with running_supervisor(settings) as first:
            quiet = (await first.create_call(customer_number=CUSTOMER, assistant_id="a", listen=False)).call_id
            call_id = await _listened_call(first, heard_s=8.0)  # the scenario's talk is over by 5.6 s
            before = await first.audio_summary(call_id)
        assert before.parties["customer"].talk_s > 1.0
        lists_before = _list_requests(emulator)

        async with running_supervisor(settings) as second:
            # Listed and readable at once, without attach_call.
            assert call_id in {info.call_id for info in second.supervised_calls()}
            assert _seqs_ok(second, call_id)[0] == "call.status"
            await second.recovery.report.done.wait()
            assert second.recovery.report.resumed == [call_id], "only the call that was listened to"
            assert second.info(quiet).status == "in-progress" and second.info(quiet).listen_state == "off"
            assert _list_requests(emulator) == lists_before + 1, "one batched GET /call, not one GET per call"
            gap = await second.wait_for_event(call_id, types=["listen.gap"], after_seq=0, timeout_s=20)
            assert gap.matched and gap.events[0].data["reason"] == "restart"
            data = gap.events[0].data
            assert data["from_s"] == pytest.approx(before.duration_s, abs=1.0) and data["gap_s"] > 0
            while (await second.audio_summary(call_id)).duration_s < data["to_s"] + 2.0:
                await anyio.sleep(0.05)
            after = await second.audio_summary(call_id)
            # The summary covers the audio heard before the restart, not only what came after.
            assert after.parties["customer"].talk_s == pytest.approx(before.parties["customer"].talk_s, abs=0.05)
            assert after.parties["assistant"].turns == before.parties["assistant"].turns
            assert after.gaps_s >= data["gap_s"] - 0.01
            assert after.listen_state == "connected"
            types = _seqs_ok(second, call_id)
            assert types.count("listen.connected") == 2
            await second.end_call(call_id)


async def test_a_call_that_ended_while_the_server_was_down_gets_its_status_and_final_summary(
    settings: Settings, emulator: Emulator
) -> None:
    with anyio.fail_after(40):
        async with running_supervisor(settings) as first:
            call_id = await _listened_call(first, heard_s=6.0)
            before = await first.audio_summary(call_id)
        emulator.calls[call_id].end("customer-ended-call")
        async with running_supervisor(settings) as second:
            await second.recovery.report.done.wait()
            assert second.recovery.report.ended_meanwhile == [call_id]
            info = second.info(call_id)
            assert info.status == "ended" and info.ended_reason == "customer-ended-call"
            summary = await second.audio_summary(call_id)
            assert summary.finished and summary.duration_s == pytest.approx(before.duration_s, abs=1.0)
            assert summary.parties["customer"].talk_s == pytest.approx(before.parties["customer"].talk_s, abs=0.05)
        # ...and written, so a third start serves it from disk without asking Vapi anything.
        async with running_supervisor(settings) as third:
            assert third.recovery.report.index is not None and not third.recovery.report.index.unfinished
            assert (await third.audio_summary(call_id)) == summary.model_copy(update={"listen_state": "off"})


async def test_ended_calls_beyond_the_memory_cap_are_served_from_disk(emulator: Emulator, tmp_path: Path) -> None:
    settings = make_settings(emulator, tmp_path / "data", max_ended_calls=2)
    ids: list[str] = []
    summaries: dict[str, float] = {}
    with anyio.fail_after(60):
        async with running_supervisor(settings) as sup:
            for _ in range(5):
                call_id = await _listened_call(sup, heard_s=2.5)
                await sup.end_call(call_id)
                while not sup.info(call_id).status == "ended" or sup.info(call_id).listening:
                    await anyio.sleep(0.05)
                summaries[call_id] = (await sup.audio_summary(call_id)).duration_s
                ids.append(call_id)
            while len(sup.calls) > 2:  # the last call leaves memory once its listening is over
                await anyio.sleep(0.05)
            assert ids[0] not in sup.calls, "the memory cap forgot the oldest"
            listed = {info.call_id: info for info in sup.supervised_calls()}
            for call_id in ids:
                assert listed[call_id].supervised and listed[call_id].status == "ended"
                summary = await sup.audio_summary(call_id)
                assert summary.finished and summary.duration_s == pytest.approx(summaries[call_id], abs=0.01)
                assert sup.recording(call_id)[:4] == b"RIFF"
                assert "listen.closed" in _seqs_ok(sup, call_id)
            assert len([c for c in sup.calls.values() if c.idle]) <= 2, "reading them back keeps the cap"
            with pytest.raises(CallNotFound):
                await sup.audio_summary("no-such-call")


async def test_retention_prunes_calls_unchanged_for_longer_than_the_setting(emulator: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = make_settings(emulator, data, retention_days=30)
    with anyio.fail_after(30):
        async with running_supervisor(settings) as sup:
            old = await _listened_call(sup, heard_s=1.0)
            await sup.end_call(old)
            fresh = await _listened_call(sup, heard_s=1.0)
            await sup.end_call(fresh)
        month_ago = time.time() - 31 * 86_400
        for file in (data / "calls" / old).iterdir():
            os.utime(file, (month_ago, month_ago))
        async with running_supervisor(settings) as sup:
            assert sup.recovery.report.pruned == 1
            assert sup.recovery.report.inbox_pruned == 0, "the inbox's events are younger than the retention"
            assert not (data / "calls" / old).exists()
            assert {info.call_id for info in sup.supervised_calls()} == {fresh}
            with pytest.raises(CallNotFound):
                sup.events(old)
        async with running_supervisor(make_settings(emulator, data, retention_days=0)) as sup:
            assert sup.recovery.report.pruned == 0, "0 keeps every call"


async def test_the_batched_check_is_retried_while_vapi_cannot_answer(emulator: Emulator, tmp_path: Path) -> None:
    settings = make_settings(emulator, tmp_path / "data", max_retries=0)
    with anyio.fail_after(40):
        async with running_supervisor(settings) as first:
            call_id = await _listened_call(first, heard_s=2.0)
        emulator.add_fault(FaultRule(route="list", status=503, times=2))
        lists_before = _list_requests(emulator)
        async with running_supervisor(settings) as second:
            assert call_id in {info.call_id for info in second.supervised_calls()}, "listed while Vapi is down"
            await second.recovery.report.done.wait()
            assert second.recovery.report.resumed == [call_id]
            assert _list_requests(emulator) == lists_before + 3, "two 503s, then the answer"
            await second.end_call(call_id)


def _ended_in_inbox(sup: CallSupervisor) -> dict[str, list[dict[str, object]]]:
    """The inbox's ``call.ended`` events by call id."""
    by_call: dict[str, list[dict[str, object]]] = {}
    for event in sup.inbox_events(limit=1000, types=["call.ended"]).events:
        by_call.setdefault(str(event.data["call_id"]), []).append(event.data)
    return by_call


async def test_every_call_whose_end_the_server_learns_is_announced_ended_once_across_restarts(
    settings: Settings, emulator: Emulator
) -> None:
    with anyio.fail_after(60):
        async with running_supervisor(settings) as first:
            meanwhile = await _listened_call(first, heard_s=6.0)
            live = (await first.create_call(customer_number=CUSTOMER, assistant_id="a", listen=False)).call_id
            await first.end_call(live)
            assert (await first.wait_for_event(None, types=["call.ended"], after_seq=0, timeout_s=20)).matched
        emulator.calls[meanwhile].end("customer-ended-call")

        async with running_supervisor(settings) as second:
            await second.recovery.report.done.wait()
            assert second.recovery.report.ended_meanwhile == [meanwhile]
            ended = _ended_in_inbox(second)
            assert sorted(ended) == sorted([meanwhile, live]) and all(len(e) == 1 for e in ended.values())
            announced = ended[meanwhile][0]
            summary = await second.audio_summary(meanwhile)
            assert announced["endedReason"] == "customer-ended-call"
            assert announced["duration_s"] == summary.duration_s > 5.0, "the final summary's headline figures"
            assert announced["interruptions"] == summary.interruptions
            # Attaching calls already announced (held on disk) says nothing new.
            for call_id in (meanwhile, live):
                await second.attach_call(call_id, listen=False)
            assert all(len(e) == 1 for e in _ended_in_inbox(second).values())

        async with running_supervisor(settings) as third:
            await third.recovery.report.done.wait()
            # A call placed elsewhere and over when first attached is announced ended at once.
            key = settings.api_key.get_secret_value()
            async with httpx2.AsyncClient(
                base_url=str(emulator.base_url), headers={"Authorization": f"Bearer {key}"}
            ) as http:
                created = await http.post("/call", json={"assistantId": "a", "customer": {"number": CUSTOMER}})
            other = created.json()["id"]
            while emulator.calls[other].status != "in-progress":
                await anyio.sleep(0.05)
            emulator.calls[other].end("customer-ended-call")
            await third.attach_call(other)
            ended = _ended_in_inbox(third)
            assert sorted(ended) == sorted([meanwhile, live, other]) and all(len(e) == 1 for e in ended.values())
            assert ended[other][0]["endedReason"] == "customer-ended-call"
            inbox = third.inbox_events(limit=1000).events
            assert [e.data["call_id"] for e in inbox if e.type == "call.added"].count(meanwhile) == 2, (
                "added, then resumed after the restart"
            )
