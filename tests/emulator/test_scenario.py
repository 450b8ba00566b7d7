"""Scenarios as data, and the ground truth they imply."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from vapi_mcp.emulator.scenario import (
    SCENARIOS,
    TURN_MERGE_GAP_S,
    GroundTruth,
    Scenario,
    Utterance,
    get_scenario,
    ground_truth,
    long_call,
    truth_of,
)


def _u(party: str, start: float, end: float, text: str = "words here", *, audible: bool = True) -> Utterance:
    return Utterance(party=party, start_s=start, duration_s=round(end - start, 6), text=text, audible=audible)  # type: ignore[arg-type]


def _check_consistent(scenario: Scenario, truth: GroundTruth) -> None:
    assert truth.duration_s == pytest.approx(scenario.duration_s)
    for party in ("customer", "assistant"):
        own = [u for u in scenario.utterances if u.party == party]
        assert truth.parties[party].talk_s == pytest.approx(sum(u.duration_s for u in own))
        assert truth.parties[party].turns == len(own)  # built-ins never need the < 0.35 s merge
        for before, after in itertools.pairwise(own):
            assert after.start_s - before.end_s >= TURN_MERGE_GAP_S
        # Events for one party alternate started / stopped, starting with started.
        kinds = [kind for kind, p in truth.events if p == party]
        assert kinds == ["speech.started", "speech.stopped"] * len(own)
    assert truth.overlap_s <= min(p.talk_s for p in truth.parties.values())
    assert 0 < truth.longest_silence_s <= truth.duration_s
    assert sorted(truth.transcripts) == sorted(
        ({"customer": "user", "assistant": "assistant"}[u.party], u.text) for u in scenario.utterances
    )
    talked = sum(p.talk_s for p in truth.parties.values()) - truth.overlap_s
    assert talked + truth.longest_silence_s <= truth.duration_s + 1e-6


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_builtin_ground_truth_is_self_consistent(name: str) -> None:
    scenario = get_scenario(name)
    assert scenario.name == name
    _check_consistent(scenario, ground_truth(scenario))


def test_support_call_has_an_interruption_and_a_long_pause() -> None:
    scenario = get_scenario("support-call")
    truth = ground_truth(scenario)
    assert 11.0 <= truth.duration_s <= 13.0
    assert 0.6 <= truth.overlap_s <= 0.8
    assert truth.interruptions == 1
    assert truth.longest_silence_s == pytest.approx(1.5)
    assert truth.parties["customer"].turns == 2 and truth.parties["assistant"].turns == 3
    assert truth.events[:4] == [
        ("speech.started", "assistant"),
        ("speech.stopped", "assistant"),
        ("speech.started", "customer"),
        ("speech.stopped", "customer"),
    ]
    # The customer cuts in before the assistant stops.
    assert truth.events[4:8] == [
        ("speech.started", "assistant"),
        ("speech.started", "customer"),
        ("speech.stopped", "assistant"),
        ("speech.stopped", "customer"),
    ]
    assert truth.transcripts[0] == ("assistant", scenario.utterances[0].text)
    assert truth.transcripts[1][0] == "user"
    assert scenario.end_when_done and not scenario.odd_sizes and scenario.drop_socket_at_s is None


def test_quick_dead_air_and_open_ended() -> None:
    assert 3.5 <= get_scenario("quick").duration_s <= 4.5
    dead = ground_truth(get_scenario("dead-air"))
    assert dead.longest_silence_s == pytest.approx(4.0)
    assert dead.overlap_s == 0 and dead.interruptions == 0
    open_ended = get_scenario("open-ended")
    assert not open_ended.end_when_done
    assert len(open_ended.utterances) >= 3


@pytest.mark.parametrize("duration", [2.0, 7.5, 60.0, 900.0])
def test_long_call_has_the_requested_length(duration: float) -> None:
    scenario = long_call(duration, seed=3)
    assert scenario.duration_s == pytest.approx(duration)
    assert scenario.tail_s >= 0.5
    _check_consistent(scenario, ground_truth(scenario))
    if duration >= 60:
        truth = ground_truth(scenario)
        assert truth.interruptions >= 1 and truth.overlap_s > 0
        assert len({u.party for u in scenario.utterances}) == 2


def test_long_call_is_deterministic_per_seed() -> None:
    assert long_call(120, seed=7) == long_call(120, seed=7)
    assert long_call(120, seed=7).utterances != long_call(120, seed=8).utterances
    with pytest.raises(ValueError):
        long_call(1.0)


def test_get_scenario_unknown_and_copies() -> None:
    with pytest.raises(ValueError, match="support-call") as info:
        get_scenario("nope")
    assert "dead-air" in str(info.value) and "long-call" in str(info.value)
    copy = get_scenario("quick")
    copy.utterances.clear()
    assert get_scenario("quick").utterances


def test_scenario_validation() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        Scenario(name="x", utterances=[_u("customer", 0, 2), _u("customer", 1, 3)])
    with pytest.raises(ValidationError):
        Scenario(name="x", utterances=[], sample_rate=16000, frame_ms=20, channels=3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="whole number"):
        Scenario(name="x", utterances=[], sample_rate=11025, frame_ms=3)
    with pytest.raises(ValidationError):
        _u("customer", 1, 1)
    # Utterances are kept in time order whatever order they were written in.
    s = Scenario(name="x", utterances=[_u("assistant", 3, 4), _u("customer", 0.5, 1)])
    assert [u.start_s for u in s.utterances] == [0.5, 3]
    assert s.duration_s == pytest.approx(5.0)
    assert s.frame_samples == 320
    assert s.model_dump(mode="json")["utterances"][0]["party"] == "customer"


def test_truth_of_definitions() -> None:
    timeline = [
        _u("assistant", 1.0, 2.0, "one"),
        _u("assistant", 2.2, 3.0, "two"),  # < 0.35 s after the previous: the same turn
        _u("customer", 3.0, 4.0, "three"),  # starts when the assistant stops: stop comes first
        _u("assistant", 3.85, 5.0, "four"),  # 0.15 s overlap: not an interruption
        _u("customer", 4.7, 6.0, "five"),  # 0.3 s overlap: an interruption
        _u("customer", 6.5, 7.0, "muted", audible=False),
    ]
    truth = truth_of(timeline, 9.0)
    assert truth.parties["assistant"].talk_s == pytest.approx(2.95)
    assert truth.parties["assistant"].turns == 2
    assert truth.parties["customer"].talk_s == pytest.approx(2.3)
    assert truth.parties["customer"].turns == 2
    assert truth.overlap_s == pytest.approx(0.45)
    assert truth.interruptions == 1
    assert truth.longest_silence_s == pytest.approx(3.0)  # the tail, from 6.0 to 9.0
    assert truth.events == [
        ("speech.started", "assistant"),
        ("speech.stopped", "assistant"),
        ("speech.started", "customer"),
        ("speech.started", "assistant"),
        ("speech.stopped", "customer"),
        ("speech.started", "customer"),
        ("speech.stopped", "assistant"),
        ("speech.stopped", "customer"),
    ]
    assert truth.segments[0] == ("assistant", 1.0, 3.0)
    assert [text for _, text in truth.transcripts] == ["one", "two", "three", "four", "five"]
    assert truth_of([], 2.5).longest_silence_s == 2.5
    assert truth_of([_u("customer", 0.0, 1.0)], 1.0).longest_silence_s == 0.0
