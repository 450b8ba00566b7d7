"""The emulator's control-message validator, pure: JavaScript numbers, and what each warm transfer mode needs."""

from __future__ import annotations

from typing import Any

import pytest

from vapi_mcp.emulator.schema import validate_control_message


def handoff(max_messages: Any) -> dict[str, Any]:
    plan = {"type": "lastNMessages", "maxMessages": max_messages}
    return {"type": "handoff", "destination": {"type": "assistant", "assistantId": "a", "contextEngineeringPlan": plan}}


def transfer(plan: dict[str, Any]) -> dict[str, Any]:
    return {"type": "transfer", "destination": {"type": "number", "number": "+14155550100", "transferPlan": plan}}


@pytest.mark.parametrize("value", [10, 10.0, 1.0, 1e2])
def test_whole_number_floats_are_integers_as_in_javascript(value: float) -> None:
    # vapi-server-sdk 3.0.0 types maxMessages as a float and sends 10.0: on Vapi's JavaScript numbers that is 10.
    assert validate_control_message(handoff(value)) == []
    assert (
        validate_control_message(
            transfer(
                {"mode": "blind-transfer", "contextEngineeringPlan": {"type": "lastNMessages", "maxMessages": value}}
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (10.5, "must be an integer number"),
        ("10", "must be an integer number"),
        (True, "must be an integer number"),
        (None, "must be an integer number"),
        (0.0, "must not be less than 1"),
        (-3, "must not be less than 1"),
    ],
)
def test_other_values_are_still_refused(value: Any, problem: str) -> None:
    assert validate_control_message(handoff(value)) == [f"destination.contextEngineeringPlan.maxMessages {problem}"]


@pytest.mark.parametrize(
    "mode", ["warm-transfer-say-message", "warm-transfer-wait-for-operator-to-speak-first-and-then-say-message"]
)
def test_say_message_modes_need_a_message(mode: str) -> None:
    needed = [f"destination.transferPlan.message should not be empty when mode is {mode}"]
    assert validate_control_message(transfer({"mode": mode})) == needed
    assert validate_control_message(transfer({"mode": mode, "message": ""})) == needed
    assert validate_control_message(transfer({"mode": mode, "message": "Ada, about her invoice."})) == []
    custom = {"type": "custom-message", "content": "Ada, about her invoice."}
    assert validate_control_message(transfer({"mode": mode, "message": custom})) == []


def test_twiml_mode_needs_twiml_and_sip_destinations_are_checked_too() -> None:
    needed = ["destination.transferPlan.twiml should not be empty when mode is warm-transfer-twiml"]
    assert validate_control_message(transfer({"mode": "warm-transfer-twiml", "message": "not TwiML"})) == needed
    sip = {"type": "transfer", "destination": {"type": "sip", "sipUri": "sip:desk@example.com"}}
    sip["destination"]["transferPlan"] = {"mode": "warm-transfer-twiml"}
    assert validate_control_message(sip) == needed
    sip["destination"]["transferPlan"] = {"mode": "warm-transfer-twiml", "twiml": "<Say>Hello</Say>"}
    assert validate_control_message(sip) == []


def test_vapi_length_limits_on_message_and_twiml() -> None:
    assert validate_control_message(transfer({"mode": "warm-transfer-say-message", "message": "x" * 1000})) == []
    assert validate_control_message(transfer({"mode": "warm-transfer-say-message", "message": "x" * 1001})) == [
        "destination.transferPlan.message must be shorter than or equal to 1000 characters"
    ]
    assert validate_control_message(transfer({"mode": "warm-transfer-twiml", "twiml": "x" * 4097})) == [
        "destination.transferPlan.twiml must be shorter than or equal to 4096 characters"
    ]


@pytest.mark.parametrize(
    "mode",
    [
        "blind-transfer",
        "blind-transfer-add-summary-to-sip-header",
        "warm-transfer-say-summary",
        "warm-transfer-wait-for-operator-to-speak-first-and-then-say-summary",
        "warm-transfer-experimental",
    ],
)
def test_modes_that_need_neither_are_accepted_bare(mode: str) -> None:
    assert validate_control_message(transfer({"mode": mode})) == []
