"""The fleet through the SDK client: alerts in a call's log and in the inbox, read without a call id; its retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from tests.conftest import API_KEY, make_settings
from tests.face.tools.test_alert_rules import TOLERANCE_S, expected
from tests.helpers import call_err, call_ok, create_call, read_json
from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator
from vapi_mcp.emulator.conditions import conditions
from vapi_mcp.emulator.scenario import get_scenario
from vapi_mcp.face import create_server
from vapi_mcp.listen.events import EventLog
from vapi_mcp.store.local import LocalStore


async def inbox_until_ended(client: Client, call_ids: set[str], timeout: float = 30) -> list[dict[str, Any]]:
    """Follow the inbox with wait_for_event (no call id) until every call in ``call_ids`` has ended."""
    events: list[dict[str, Any]] = []
    after = 0
    with anyio.fail_after(timeout):
        while not call_ids <= {e["data"]["call_id"] for e in events if e["type"] == "call.ended"}:
            waited = await call_ok(client, "wait_for_event", {"after_seq": after, "timeout_s": 5})
            events += waited["events"]
            after = waited["next_seq"]
    return events


async def test_dead_air_reaches_the_call_log_and_the_inbox(tmp_path: Path, era: str) -> None:
    options = EmulatorOptions(api_key=API_KEY, scenario="dead-air", time_scale=5.0)
    async with running_emulator(options) as emu:
        settings = make_settings(emu, tmp_path, poll_interval_s=0.05)
        async with Client(create_server(settings), mode=era) as client:  # type: ignore[arg-type]
            call_id = await create_call(client, listen=True, alert_rules={"dead_air": {"after_s": 3}})
            inbox = await inbox_until_ended(client, {call_id})
            mine = [e for e in inbox if e["data"]["call_id"] == call_id]
            assert [e["type"] for e in mine] == ["call.added", "alert", "call.ended"]
            alert = mine[1]["data"]
            # The customer stops at 3.4 s and speaks again at 7.4 s: 3 s of dead air at 6.4 s.
            assert alert["rule"] == "dead_air" and abs(alert["at_s"] - 6.4) <= 0.5, alert
            assert alert["severity"] == "warning" and alert["message"] == "nobody has spoken for 3 s"
            ended = mine[2]["data"]
            assert ended["endedReason"] == "customer-ended-call" and ended["alerts"] == 1
            assert ended["duration_s"] > 10 and set(ended["talk_ratio"]) == {"customer", "assistant"}
            seqs = [e["seq"] for e in inbox]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
            # The same alert in the call's own log, and the inbox points at it.
            page = await call_ok(client, "get_call_events", {"call_id": call_id, "types": ["alert"]})
            assert [e["seq"] for e in page["events"]] == [alert["call_seq"]]
            assert page["events"][0]["data"]["rule"] == "dead_air"
            # get_call_events without a call id pages the inbox; the resource shows it too.
            page = await call_ok(client, "get_call_events", {"types": ["alert"]})
            assert page["call_id"] is None and [e["data"]["rule"] for e in page["events"]] == ["dead_air"]
            resource = await read_json(client, "vapi://inbox")
            assert [e["type"] for e in resource["events"]][-3:] == ["call.added", "alert", "call.ended"]


async def test_a_clean_call_raises_no_alert(tmp_path: Path) -> None:
    options = EmulatorOptions(api_key=API_KEY, scenario="support-call", time_scale=5.0)
    async with running_emulator(options) as emu:
        settings = make_settings(emu, tmp_path, poll_interval_s=0.05)
        async with Client(create_server(settings)) as client:
            call_id = await create_call(client, listen=True)
            inbox = await inbox_until_ended(client, {call_id})
            assert [e["type"] for e in inbox] == ["call.added", "call.ended"]
            page = await call_ok(client, "get_call_events", {"call_id": call_id, "types": ["alert"]})
            assert page["events"] == []


async def test_set_alert_rules_defaults_per_call_and_errors(tmp_path: Path, era: str) -> None:
    options = EmulatorOptions(api_key=API_KEY, scenario="open-ended", time_scale=5.0)
    async with running_emulator(options) as emu:
        settings = make_settings(emu, tmp_path, alert_rules={"monologue": False})
        async with Client(create_server(settings), mode=era) as client:  # type: ignore[arg-type]
            with anyio.fail_after(20):
                result = await call_ok(client, "set_alert_rules", {"rules": {"dead_air": {"after_s": 8}}})
                assert result["call_id"] is None
                assert result["rules"]["dead_air"]["after_s"] == 8 and result["rules"]["monologue"] is False
                call_id = await create_call(client, alert_rules={"keywords": {"phrases": ["refund"]}})
                result = await call_ok(client, "set_alert_rules", {"rules": {"talk_over": False}, "call_id": call_id})
                rules = result["rules"]
                assert result["call_id"] == call_id and rules["talk_over"] is False
                assert rules["dead_air"]["after_s"] == 8 and rules["keywords"]["phrases"] == ["refund"]
                text = await call_err(client, "set_alert_rules", {"rules": {"dead_ar": {}}})
                assert "'dead_ar'" in text and "dead_air" in text and "ended_abnormally" in text
                text = await call_err(client, "set_alert_rules", {"rules": {"dead_air": {"after": 1}}})
                assert "unknown parameter 'after'" in text and "after_s" in text
                before = len(emu.calls)
                text = await call_err(
                    client,
                    "create_call",
                    {"customer_number": "+14155550123", "assistant_id": "a", "alert_rules": {"nope": True}},
                )
                assert "'nope'" in text and len(emu.calls) == before, "a bad rule dials nobody"


async def test_the_inbox_resource_is_subscribable_in_both_eras(settings: Any) -> None:
    from mcp.client.subscriptions import ResourceUpdated
    from mcp.types import ResourceUpdatedNotification

    server = create_server(settings)
    with anyio.fail_after(30):
        async with Client(server) as modern:
            async with modern.listen(resource_subscriptions=["vapi://inbox"]) as sub:
                await create_call(modern)  # call.added
                async for event in sub:
                    if isinstance(event, ResourceUpdated) and event.uri == "vapi://inbox":
                        break
        messages: list[Any] = []

        async def on_message(message: Any) -> None:
            messages.append(message)

        async with Client(server, mode="legacy", message_handler=on_message) as legacy:
            await legacy.subscribe_resource("vapi://inbox")
            await create_call(legacy)
            while not any(
                isinstance(m, ResourceUpdatedNotification) and str(m.params.uri) == "vapi://inbox" for m in messages
            ):
                await anyio.sleep(0.05)


FLEET_RULES: dict[str, Any] = {
    "dead_air": {"after_s": 3.0},
    "talk_over": {"overlap_s": 1.5},  # its other trigger (3 overlaps within 30 s) needs more than these calls hold
    "monologue": {"party": "assistant", "after_s": 30.0},
    "keywords": {"phrases": ["manager"]},
    "audio_quality": {"min_dbfs": -50.0, "window_s": 10.0},
    "listen_lost": {"after_s": 10.0},
    "ended_abnormally": {},
}
"""Every rule whose ground truth the tests know, on every call of the fleet (call_duration stays at 900 s)."""


async def test_twenty_calls_one_inbox_loop_every_alert_once_in_order(tmp_path: Path) -> None:
    options = EmulatorOptions(api_key=API_KEY, scenario="dead-air", time_scale=2.0)
    troubles = ["dead-air", "talk-over", "angry", "support-call"]
    async with running_emulator(options) as emu:
        settings = make_settings(emu, tmp_path, poll_interval_s=2.0, alert_rules=FLEET_RULES)
        async with Client(create_server(settings)) as client:
            with anyio.fail_after(90):
                calls: dict[str, str] = {}
                for i in range(20):
                    assistant = {"metadata": {"emulatorScenario": troubles[i % len(troubles)]}}
                    info = await call_ok(
                        client, "create_call", {"customer_number": "+14155550123", "assistant": assistant}
                    )
                    calls[info["call_id"]] = troubles[i % len(troubles)]
                inbox = await inbox_until_ended(client, set(calls), timeout=80)
                seqs = [e["seq"] for e in inbox]
                assert seqs == sorted(set(seqs)), "the inbox is read in seq order, each event once"
                alerts = [e["data"] for e in inbox if e["type"] == "alert"]
                from_inbox = sorted((a["call_id"], a["call_seq"]) for a in alerts)
                from_calls: list[tuple[str, int]] = []
                for call_id in calls:
                    page = await call_ok(client, "get_call_events", {"call_id": call_id, "types": ["alert"]})
                    from_calls += [(call_id, e["seq"]) for e in page["events"]]
                assert from_inbox == sorted(from_calls), "every alert of every call reached the inbox exactly once"
                # Each call's alerts are exactly those its scenario's ground truth implies (dead air, talk-over
                # and the angry caller one each, 15 in all), at the call time it says.
                for call_id, scenario in calls.items():
                    truth = conditions(get_scenario(scenario))
                    want = sorted(
                        (rule, at) for rule, params in FLEET_RULES.items() for at in expected(rule, params, truth)
                    )
                    got = sorted((a["rule"], a["at_s"]) for a in alerts if a["call_id"] == call_id)
                    assert [rule for rule, _ in got] == [rule for rule, _ in want], (scenario, got, want)
                    for (_, at), (_, should) in zip(got, want, strict=True):
                        assert abs(at - should) <= TOLERANCE_S, (scenario, got, want)
                assert len(alerts) == 15, alerts


def _old_inbox(data_dir: Path, *ages_days: float) -> None:
    """An inbox journal in the data dir as a server wrote it, one event per age (days ago)."""
    now = datetime.now(UTC)
    stamps = iter([now - timedelta(days=age) for age in ages_days])
    with EventLog("inbox", journal=LocalStore(data_dir).open_inbox_journal(), clock=lambda: next(stamps)) as log:
        for age in ages_days:
            log.append("call.ended", {"call_id": f"old-{age:g}", "endedReason": "customer-ended-call", "alerts": 0})


async def _inbox_at_start(client: Client) -> tuple[dict[str, Any], list[int], int]:
    """The inbox page from seq 0, the resource's seqs, and the seq of the call.added of a new call."""
    page = await call_ok(client, "get_call_events", {})
    resource = [e["seq"] for e in (await read_json(client, "vapi://inbox"))["events"]]
    call_id = await create_call(client)
    added = await call_ok(client, "get_call_events", {"after_seq": page["latest_seq"], "types": ["call.added"]})
    return page, resource, next(e["seq"] for e in added["events"] if e["data"]["call_id"] == call_id)


async def test_retention_drops_old_inbox_events_and_the_seq_goes_on(emulator: Emulator, tmp_path: Path) -> None:
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    _old_inbox(kept, 45, 40, 31, 29, 1)
    _old_inbox(gone, 60, 31)
    with anyio.fail_after(20):
        async with Client(create_server(make_settings(emulator, kept, retention_days=30))) as client:
            page, resource, added = await _inbox_at_start(client)
            assert [e["seq"] for e in page["events"]] == [4, 5] and page["dropped_before"] == 4
            assert [e["data"]["call_id"] for e in page["events"]] == ["old-29", "old-1"], "nothing younger lost"
            assert resource == [4, 5] and added == 6
        async with Client(create_server(make_settings(emulator, gone, retention_days=30))) as client:
            page, resource, added = await _inbox_at_start(client)
            assert page["events"] == [] and page["latest_seq"] == 2 and resource == []
            assert added == 3, "above the old top seq: a seq is never used twice"
        # Another start: the seqs still go on, and 0 keeps every event.
        async with Client(create_server(make_settings(emulator, kept, retention_days=0))) as client:
            page, _resource, added = await _inbox_at_start(client)
            assert [e["seq"] for e in page["events"]][:3] == [4, 5, 6] and added > page["latest_seq"] >= 6
