"""Transfer plans: each warm mode carries what it needs (or is refused before it becomes a silent blind transfer)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vapi_mcp.vapi import ContextEngineeringPlan, TransferNumberDestination, TransferPlan, to_wire

SAY_MESSAGE_MODES = (
    "warm-transfer-say-message",
    "warm-transfer-wait-for-operator-to-speak-first-and-then-say-message",
)


@pytest.mark.parametrize("mode", SAY_MESSAGE_MODES)
def test_say_message_modes_send_the_message_for_the_destination(mode: str) -> None:
    plan = TransferPlan(mode=mode, message="Ada is calling about her invoice.")  # type: ignore[arg-type]
    destination = TransferNumberDestination(number="+14155550100", transfer_plan=plan)
    assert to_wire(destination)["transferPlan"] == {"mode": mode, "message": "Ada is calling about her invoice."}


@pytest.mark.parametrize("mode", SAY_MESSAGE_MODES)
@pytest.mark.parametrize("message", [None, ""])
def test_say_message_modes_without_a_message_are_refused(mode: str, message: str | None) -> None:
    with pytest.raises(ValidationError, match=r"needs a message for the destination \(transferPlan.message\)"):
        TransferPlan(mode=mode, message=message)  # type: ignore[arg-type]


def test_twiml_mode_sends_the_twiml_and_is_refused_without_it() -> None:
    twiml = "<Say>Customer on the line</Say><Pause length='1'/>"
    assert to_wire(TransferPlan(mode="warm-transfer-twiml", twiml=twiml)) == {
        "mode": "warm-transfer-twiml",
        "twiml": twiml,
    }
    with pytest.raises(ValidationError, match=r"needs the TwiML to run \(transferPlan.twiml\)"):
        TransferPlan(mode="warm-transfer-twiml")
    with pytest.raises(ValidationError, match="twiml"):
        TransferPlan(mode="warm-transfer-twiml", message="a message is not TwiML")


def test_vapi_length_limits() -> None:
    TransferPlan(mode="warm-transfer-say-message", message="x" * 1000)
    TransferPlan(mode="warm-transfer-twiml", twiml="x" * 4096)
    with pytest.raises(ValidationError, match="1000"):
        TransferPlan(mode="warm-transfer-say-message", message="x" * 1001)
    with pytest.raises(ValidationError, match="4096"):
        TransferPlan(mode="warm-transfer-twiml", twiml="x" * 4097)


@pytest.mark.parametrize(
    "mode",
    [
        "blind-transfer",
        "blind-transfer-add-summary-to-sip-header",
        "warm-transfer-say-summary",
        "warm-transfer-experimental",
    ],
)
def test_modes_that_need_neither_stay_as_they_were(mode: str) -> None:
    assert to_wire(TransferPlan(mode=mode)) == {"mode": mode}  # type: ignore[arg-type]


def test_whole_number_floats_become_integers_on_the_wire() -> None:
    # Vapi's own SDK types maxMessages as a float; ours sends the integer either way.
    plan = ContextEngineeringPlan.model_validate({"type": "lastNMessages", "maxMessages": 10.0})
    assert to_wire(plan) == {"type": "lastNMessages", "maxMessages": 10}
    with pytest.raises(ValidationError):
        ContextEngineeringPlan.model_validate({"type": "lastNMessages", "maxMessages": 10.5})
