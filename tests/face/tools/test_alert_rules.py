"""Each alert rule fires when the emulator's ground truth says, end to end, and never on a clean call.

The server listens to emulated calls over loopback; the scenario's conditions (emulator.conditions) say when
nobody spoke, who talked over whom, what was said, how loud, when the socket dropped and how the call ended.
From those and the rule's parameters alone the test knows when the rule must fire (call time, within 0.5 s).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.conftest import API_KEY, make_settings
from tests.helpers import call_ok
from vapi_mcp.emulator import EmulatorOptions, running_emulator
from vapi_mcp.emulator.conditions import Conditions, conditions
from vapi_mcp.emulator.scenario import get_scenario
from vapi_mcp.face import create_server

TOLERANCE_S = 0.5


def expected(rule: str, params: dict[str, Any], truth: Conditions) -> list[float]:
    """When ``rule`` with ``params`` must fire on a call with these conditions (call time)."""
    if rule == "dead_air":
        return [start + params["after_s"] for start, end in truth.silences if end - start >= params["after_s"] + 0.3]
    if rule == "talk_over":
        return [start + params["overlap_s"] for start, end in truth.overlaps if end - start >= params["overlap_s"]]
    if rule == "monologue":
        return [
            start + params["after_s"] for start, end in truth.turns[params["party"]] if end - start >= params["after_s"]
        ]
    if rule == "keywords":
        return [
            s.end_s
            for s in truth.spoken
            if s.party == "customer" and any(p.lower() in s.text.lower() for p in params["phrases"])
        ]
    if rule == "audio_quality":
        window = params["window_s"]
        bad = [s for s in truth.spoken if s.level_dbfs < params["min_dbfs"] or s.level_dbfs > -6.0]
        for k in range(1, math.ceil(truth.duration_s / window) + 1):
            spoke = sum(max(0.0, min(s.end_s, k * window) - max(s.start_s, (k - 1) * window)) for s in bad)
            if spoke >= min(1.0, window / 4) + 0.3:
                return [k * window]
        return []
    if rule == "listen_lost":
        return [truth.drop_at_s + params["after_s"]] if truth.drop_at_s is not None and truth.stays_down else []
    if rule == "ended_abnormally":
        return [truth.duration_s] if truth.ended_reason.startswith(("pipeline-error", "call.")) else []
    raise AssertionError(rule)


CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("dead-air", "dead_air", {"after_s": 3.0}),
    ("talk-over", "talk_over", {"overlap_s": 1.5}),
    ("monologue", "monologue", {"party": "assistant", "after_s": 30.0}),
    ("angry", "keywords", {"phrases": ["cancel my account", "manager"]}),
    ("quiet-line", "audio_quality", {"min_dbfs": -40.0, "window_s": 5.0}),
    ("clipping", "audio_quality", {"min_dbfs": -50.0, "window_s": 5.0}),
    ("listen-lost", "listen_lost", {"after_s": 1.0}),
    ("error-ending", "ended_abnormally", {}),
]

CLEAN_RULES: dict[str, Any] = {
    "keywords": {"phrases": ["cancel my account", "manager", "lawyer"]},
    "listen_lost": {"after_s": 1},
}
"""What the clean call (support-call) is supervised with, over the default rules."""


async def supervise(tmp_path: Path, scenario: str, rules: dict[str, Any], era: str = "auto") -> list[dict[str, Any]]:
    """Play ``scenario`` to its end under supervision with ``rules``; the call's alert events."""
    options = EmulatorOptions(api_key=API_KEY, scenario=scenario, time_scale=4.0)
    async with running_emulator(options) as emu:
        settings = make_settings(emu, tmp_path, poll_interval_s=0.05)
        async with Client(create_server(settings), mode=era) as client:  # type: ignore[arg-type]
            with anyio.fail_after(60):
                info = await call_ok(
                    client,
                    "create_call",
                    {"customer_number": "+14155550123", "assistant_id": "a", "alert_rules": rules},
                )
                call_id = info["call_id"]
                after = 0
                while True:  # the inbox says when the call is over
                    got = await call_ok(client, "wait_for_event", {"after_seq": after, "types": ["call.ended"]})
                    after = got["next_seq"]
                    if any(e["data"]["call_id"] == call_id for e in got["events"]):
                        break
                if rules.get("listen_lost"):
                    await anyio.sleep(0.2)
                page = await call_ok(client, "get_call_events", {"call_id": call_id, "types": ["alert"]})
                return [event["data"] for event in page["events"]]


@pytest.mark.parametrize(("scenario", "rule", "params"), CASES, ids=[c[0] for c in CASES])
async def test_each_rule_fires_when_the_ground_truth_says(
    tmp_path: Path, scenario: str, rule: str, params: dict[str, Any]
) -> None:
    truth = conditions(get_scenario(scenario))
    want = expected(rule, params, truth)
    assert want, f"the {scenario} scenario scripts no {rule} condition"
    alerts = await supervise(tmp_path, scenario, {rule: params})
    got = [a["at_s"] for a in alerts if a["rule"] == rule]
    assert len(got) == len(want), (rule, want, alerts)
    for at, should in zip(got, want, strict=True):
        assert abs(at - should) <= TOLERANCE_S, (rule, at, should, alerts)


async def test_a_clean_call_fires_no_rule(tmp_path: Path) -> None:
    phrases = CLEAN_RULES
    truth = conditions(get_scenario("support-call"))
    for rule, params in {
        "dead_air": {"after_s": 4.0},
        "talk_over": {"overlap_s": 1.5},
        "monologue": {"party": "assistant", "after_s": 30.0},
        "keywords": phrases["keywords"],
        "audio_quality": {"min_dbfs": -50.0, "window_s": 10.0},
        "ended_abnormally": {},
    }.items():
        assert expected(rule, params, truth) == [], rule
    assert await supervise(tmp_path, "support-call", phrases) == []
