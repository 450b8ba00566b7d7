"""The ground truth of alert conditions, from a scenario alone."""

from __future__ import annotations

from vapi_mcp.emulator.conditions import conditions
from vapi_mcp.emulator.scenario import get_scenario


def test_the_dead_air_scenario() -> None:
    truth = conditions(get_scenario("dead-air"))
    assert (3.4, 7.4) in truth.silences and truth.silences[0] == (0.0, 0.2)
    assert truth.silences[-1] == (10.6, truth.duration_s), "the tail counts"
    assert truth.overlaps == [] and truth.ended_reason == "customer-ended-call" and truth.drop_at_s is None


def test_the_trouble_scenarios_script_their_trouble() -> None:
    assert conditions(get_scenario("talk-over")).overlaps == [(2.6, 5.0)]
    monologue = conditions(get_scenario("monologue"))
    assert max(end - start for start, end in monologue.turns["assistant"]) > 30
    angry = conditions(get_scenario("angry"))
    assert any("manager" in s.text and s.party == "customer" for s in angry.spoken)
    assert {s.level_dbfs for s in conditions(get_scenario("quiet-line")).spoken if s.party == "customer"} == {-45.0}
    lost = conditions(get_scenario("listen-lost"))
    assert lost.drop_at_s == 3.0 and lost.stays_down
    assert conditions(get_scenario("error-ending")).ended_reason == "pipeline-error-openai-llm-failed"
