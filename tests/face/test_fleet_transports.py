"""Alerts, the inbox and confirmations through the real process, over stdio and streamable HTTP, both eras.

One server process per transport and era supervises every scenario of the in-memory rule tests
(tests/face/tools/test_alert_rules.py) at once, as concurrent calls, each with its rule set on ``create_call``
(the dead-air one with the defaults from ``VAPI_MCP_ALERT_RULES``), plus a clean call. Each rule must fire
exactly when the emulator's ground truth says, within 0.5 s of call time, and the clean call must raise
nothing. The child polls statuses every 2 s (its default): listening must not wait for the poll to start.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitRequestParams, ElicitResult

from tests.conftest import API_KEY, ERAS
from tests.face.test_transports import TOKEN, _child_env, http_process  # pyright: ignore[reportPrivateUsage]
from tests.face.tools.test_alert_rules import CASES, CLEAN_RULES, TOLERANCE_S, expected
from tests.face.tools.test_fleet import inbox_until_ended
from tests.helpers import call_err, call_ok, live_call
from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator
from vapi_mcp.emulator.conditions import conditions
from vapi_mcp.emulator.scenario import get_scenario

TIME_SCALE = 4.0
"""As fast as keeps the 0.5 s honest on a loaded machine: a lag in reading the stream counts this many times
over in call time (ended_abnormally is timed by the audio received when a poll learns the end; at 6x a
0.11 s lag put it 0.68 s early, once in 15 runs of three suites at once), and listen_lost's 1 s of wall
time must pass before the call ends."""
DEFAULTS = "dead-air"
"""The case whose rule comes from ``VAPI_MCP_ALERT_RULES`` rather than from ``create_call``."""
RULES = json.dumps({rule: params for scenario, rule, params in CASES if scenario == DEFAULTS})


async def decline(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="decline")


async def _every_rule_and_a_declined_end(client: Client, emulator: Emulator) -> None:
    calls: dict[str, tuple[str, str, dict[str, Any]]] = {}  # call id -> (scenario, rule, params)
    for scenario, rule, params in [*CASES, ("support-call", "", CLEAN_RULES)]:
        args: dict[str, Any] = {
            "customer_number": "+14155550123",
            "assistant": {"metadata": {"emulatorScenario": scenario}},
        }
        if scenario != DEFAULTS:
            args["alert_rules"] = {rule: params} if rule else params
        calls[(await call_ok(client, "create_call", args))["call_id"]] = (scenario, rule, params)
    inbox = await inbox_until_ended(client, set(calls), timeout=45)
    seqs = [e["seq"] for e in inbox]
    assert seqs == sorted(set(seqs)), "the inbox is read in seq order, each event once"
    from_inbox = sorted((e["data"]["call_id"], e["data"]["call_seq"]) for e in inbox if e["type"] == "alert")
    from_calls: list[tuple[str, int]] = []
    for call_id, (scenario, rule, params) in calls.items():
        page = await call_ok(client, "get_call_events", {"call_id": call_id, "types": ["alert"]})
        from_calls += [(call_id, e["seq"]) for e in page["events"]]
        alerts = [e["data"] for e in page["events"]]
        truth = conditions(get_scenario(scenario))
        if not rule:
            assert all(expected(r, p, truth) == [] for r, p in {**json.loads(RULES), **CLEAN_RULES}.items())
            assert alerts == [], ("a clean call raised alerts", alerts)
            continue
        if scenario == DEFAULTS:  # every default rule is on: only its own fires
            assert {a["rule"] for a in alerts} == {rule}, alerts
        want = expected(rule, params, truth)
        got = [a["at_s"] for a in alerts if a["rule"] == rule]
        assert len(got) == len(want), (scenario, rule, want, alerts)
        for at, should in zip(got, want, strict=True):
            assert abs(at - should) <= TOLERANCE_S, (scenario, rule, at, should, alerts)
    assert from_inbox == sorted(from_calls), "every alert of every call reached the inbox exactly once"
    call_id = await live_call(client)  # the emulator's default scenario stays open
    text = await call_err(client, "end_call", {"call_id": call_id})
    assert "declined" in text and emulator.control_log(call_id) == []


@pytest.fixture
async def open_emulator() -> Any:
    options = EmulatorOptions(api_key=API_KEY, scenario="open-ended", time_scale=TIME_SCALE)
    async with running_emulator(options) as emu:
        yield emu


@pytest.mark.parametrize("era", ERAS)
async def test_over_stdio(open_emulator: Emulator, tmp_path: Path, era: str) -> None:
    env = _child_env(open_emulator, tmp_path, VAPI_MCP_ALERT_RULES=RULES)
    params = StdioServerParameters(command=sys.executable, args=["-m", "vapi_mcp"], env=env, cwd=str(Path.cwd()))
    with anyio.fail_after(90):
        async with Client(params, mode=era, elicitation_callback=decline) as client:  # type: ignore[arg-type]
            await _every_rule_and_a_declined_end(client, open_emulator)


@pytest.mark.parametrize("era", ERAS)
async def test_over_http(open_emulator: Emulator, tmp_path: Path, era: str) -> None:
    with http_process(open_emulator, tmp_path, VAPI_MCP_ALERT_RULES=RULES) as (_, url):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with anyio.fail_after(90):
            async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http:
                transport = streamable_http_client(url, http_client=http)
                async with Client(transport, mode=era, elicitation_callback=decline) as client:  # type: ignore[arg-type]
                    await _every_rule_and_a_declined_end(client, open_emulator)
