"""The control builders, pure: intent in, the exact Vapi JSON out (or a clear refusal)."""

from __future__ import annotations

import pytest

from vapi_mcp.errors import InvalidInput, TransferNotAllowed
from vapi_mcp.supervisor import control
from vapi_mcp.vapi.models import to_wire


def test_transfer_to_a_number_with_a_warm_message() -> None:
    message, summary = control.transfer(
        "+14155550100",
        allowlist=(),
        message="Connecting you now.",
        mode="warm-transfer-say-message",
        operator_message="Ada is calling about her invoice.",
    )
    assert to_wire(message) == {
        "type": "transfer",
        "content": "Connecting you now.",
        "destination": {
            "type": "number",
            "number": "+14155550100",
            "transferPlan": {"mode": "warm-transfer-say-message", "message": "Ada is calling about her invoice."},
        },
    }
    assert summary == {"destination": "+14155550100", "kind": "number", "mode": "warm-transfer-say-message"}


def test_transfer_twiml_to_sip() -> None:
    twiml = "<Response><Say>Hello</Say></Response>"
    message, _ = control.transfer("sip:desk@example.com", allowlist=(), mode="warm-transfer-twiml", twiml=twiml)
    assert to_wire(message)["destination"] == {
        "type": "sip",
        "sipUri": "sip:desk@example.com",
        "transferPlan": {"mode": "warm-transfer-twiml", "twiml": twiml},
    }


def test_transfer_refusals_happen_before_anything_is_built() -> None:
    with pytest.raises(TransferNotAllowed):
        control.transfer("+19995550000", allowlist=("+1415555*",))
    with pytest.raises(InvalidInput, match="need a warm-transfer mode"):
        control.transfer("+14155550100", allowlist=(), operator_message="hi")
    with pytest.raises(InvalidInput, match="extension"):
        control.transfer("sip:desk@example.com", allowlist=(), extension="12")


def test_handoff_context_rules() -> None:
    message, summary = control.handoff(
        assistant_id="asst-2", assistant=None, context="lastNMessages", max_messages=10, message=None
    )
    assert to_wire(message)["destination"] == {
        "type": "assistant",
        "assistantId": "asst-2",
        "contextEngineeringPlan": {"type": "lastNMessages", "maxMessages": 10},
    }
    assert summary == {"assistantId": "asst-2", "context": "lastNMessages"}
    with pytest.raises(InvalidInput, match="needs max_messages"):
        control.handoff(assistant_id="a", assistant=None, context="lastNMessages", max_messages=None, message=None)
    with pytest.raises(InvalidInput, match="exactly one"):
        control.handoff(assistant_id=None, assistant=None, context="all", max_messages=None, message=None)


def test_create_request_picks_exactly_one_runner() -> None:
    request = control.create_request(
        customer_number="+14155550123",
        customer_name=None,
        assistant_id="asst-1",
        assistant=None,
        squad_id=None,
        phone_number_id=None,
        authenticated_monitor=True,
    )
    body = to_wire(request)
    assert body["assistantOverrides"]["monitorPlan"] == {
        "listenEnabled": True,
        "controlEnabled": True,
        "listenAuthenticationEnabled": True,
        "controlAuthenticationEnabled": True,
    }
    with pytest.raises(InvalidInput, match="exactly one"):
        control.create_request(
            customer_number="+14155550123",
            customer_name=None,
            assistant_id="a",
            assistant=None,
            squad_id="s",
            phone_number_id=None,
            authenticated_monitor=False,
        )


def test_clip_and_describe() -> None:
    assert control.clip("x" * 300).endswith("…") and len(control.clip("x" * 300)) == 200
    assert control.describe("end-call", {}) == "end-call sent; the call is ending"
    assert control.describe("control", {"control": "mute-customer"}) == "mute-customer sent"


def test_a_squad_takes_squad_overrides() -> None:
    request = control.create_request(
        customer_number="+14155550123",
        customer_name=None,
        assistant_id=None,
        assistant=None,
        squad_id="squad-1",
        phone_number_id=None,
        authenticated_monitor=False,
    )
    body = to_wire(request)
    assert "assistantOverrides" not in body
    assert body["squadOverrides"]["monitorPlan"]["listenEnabled"] is True


def test_twiml_that_dials_out_is_checked_against_the_allowlist() -> None:
    dial = "<Response><Dial>+19995550000</Dial></Response>"
    with pytest.raises(TransferNotAllowed):
        control.transfer("+14155550100", allowlist=("+1415555*",), mode="warm-transfer-twiml", twiml=dial)
    safe = "<Response><Say>Connecting a caller.</Say></Response>"
    message, _ = control.transfer("+14155550100", allowlist=("+1415555*",), mode="warm-transfer-twiml", twiml=safe)
    assert to_wire(message)["destination"]["transferPlan"]["twiml"] == safe
