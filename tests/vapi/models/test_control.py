"""Control messages: exact JSON out (reference §1.4), the union parsed back, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from vapi_mcp.vapi import (
    AddMessage,
    AppendContext,
    ChatMessage,
    ContextEngineeringPlan,
    Control,
    EndCall,
    Handoff,
    HandoffAssistantDestination,
    HandoffSquadDestination,
    Say,
    SendTransportMessage,
    SipTransportMessage,
    Transfer,
    TransferNumberDestination,
    TransferPlan,
    TransferSipDestination,
    TwilioTransportMessage,
    parse_control_message,
    to_wire,
)

# (model, the exact JSON of reference §1.4 or its direct analogue)
WIRE_CASES: list[tuple[BaseModel, dict[str, Any]]] = [
    (
        Say(
            content="A supervisor has joined. One moment please.",
            end_call_after_spoken=False,
            interruptions_enabled=False,
            interrupt_assistant_enabled=True,
        ),
        {
            "type": "say",
            "content": "A supervisor has joined. One moment please.",
            "endCallAfterSpoken": False,
            "interruptionsEnabled": False,
            "interruptAssistantEnabled": True,
        },
    ),
    (
        AddMessage(
            message=ChatMessage(role="system", content="Offer the customer a 10% discount."),
            trigger_response_enabled=False,
        ),
        {
            "type": "add-message",
            "message": {"role": "system", "content": "Offer the customer a 10% discount."},
            "triggerResponseEnabled": False,
        },
    ),
    (Control(control="mute-assistant"), {"type": "control", "control": "mute-assistant"}),
    (Control(control="unmute-customer"), {"type": "control", "control": "unmute-customer"}),
    (Control(control="say-first-message"), {"type": "control", "control": "say-first-message"}),
    (EndCall(), {"type": "end-call"}),
    (
        Transfer(
            destination=TransferNumberDestination(
                number="+14155550123",
                extension="101",
                caller_id="+14155550000",
                message="Connecting you now.",
                description="Billing desk",
                transfer_plan=TransferPlan(mode="warm-transfer-say-summary"),
            ),
            content="Please hold while I transfer you.",
        ),
        {
            "type": "transfer",
            "destination": {
                "type": "number",
                "number": "+14155550123",
                "extension": "101",
                "callerId": "+14155550000",
                "message": "Connecting you now.",
                "description": "Billing desk",
                "transferPlan": {"mode": "warm-transfer-say-summary"},
            },
            "content": "Please hold while I transfer you.",
        },
    ),
    (
        Transfer(
            destination=TransferSipDestination(sip_uri="sip:agent@example.com", sip_headers={"X-Reason": "escalation"})
        ),
        {
            "type": "transfer",
            "destination": {"type": "sip", "sipUri": "sip:agent@example.com", "sipHeaders": {"X-Reason": "escalation"}},
        },
    ),
    (
        Transfer(
            destination=TransferSipDestination(
                sip_uri="sip:desk@example.com",
                caller_id="+14155550000",
                transfer_plan=TransferPlan(
                    mode="warm-transfer-say-message",
                    message="A customer about billing.",
                    sip_verb="refer",
                    context_engineering_plan=ContextEngineeringPlan(type="lastNMessages", max_messages=5),
                ),
            )
        ),
        {
            "type": "transfer",
            "destination": {
                "type": "sip",
                "sipUri": "sip:desk@example.com",
                "callerId": "+14155550000",
                "transferPlan": {
                    "mode": "warm-transfer-say-message",
                    "message": "A customer about billing.",
                    "sipVerb": "refer",
                    "contextEngineeringPlan": {"type": "lastNMessages", "maxMessages": 5},
                },
            },
        },
    ),
    (
        Handoff(
            destination=HandoffAssistantDestination(
                assistant_id="5b0a4a08-133c-4146-9315-0984f8c6be80",
                context_engineering_plan=ContextEngineeringPlan(type="lastNMessages", max_messages=10),
            ),
            content="Handing you to a specialist.",
        ),
        {
            "type": "handoff",
            "destination": {
                "type": "assistant",
                "assistantId": "5b0a4a08-133c-4146-9315-0984f8c6be80",
                "contextEngineeringPlan": {"type": "lastNMessages", "maxMessages": 10},
            },
            "content": "Handing you to a specialist.",
        },
    ),
    (
        Handoff(
            destination=HandoffAssistantDestination(
                assistant={"name": "new_assistant", "voice": {"provider": "vapi", "voiceId": "Neha"}},
                context_engineering_plan=ContextEngineeringPlan(type="none"),
            )
        ),
        {
            "type": "handoff",
            "destination": {
                "type": "assistant",
                "assistant": {"name": "new_assistant", "voice": {"provider": "vapi", "voiceId": "Neha"}},
                "contextEngineeringPlan": {"type": "none"},
            },
        },
    ),
    (
        Handoff(destination=HandoffSquadDestination(squad_id="sq-1", entry_assistant_name="Billing")),
        {"type": "handoff", "destination": {"type": "squad", "squadId": "sq-1", "entryAssistantName": "Billing"}},
    ),
    (
        SendTransportMessage(message=SipTransportMessage(sip_verb="INFO", headers={"X-Foo": "bar"}, body="hello")),
        {
            "type": "send-transport-message",
            "message": {"transport": "vapi.sip", "sipVerb": "INFO", "headers": {"X-Foo": "bar"}, "body": "hello"},
        },
    ),
    (
        SendTransportMessage(message=TwilioTransportMessage(twiml="<Response><Pause/></Response>")),
        {
            "type": "send-transport-message",
            "message": {"transport": "twilio", "twiml": "<Response><Pause/></Response>"},
        },
    ),
    (
        AppendContext(kind="instructions", content="Ask for the order number before anything else."),
        {"type": "append-context", "kind": "instructions", "content": "Ask for the order number before anything else."},
    ),
]


@pytest.mark.parametrize(("model", "wire"), WIRE_CASES, ids=[w["type"] for _, w in WIRE_CASES])
def test_exact_wire_json(model: BaseModel, wire: dict[str, Any]) -> None:
    assert to_wire(model) == wire
    # and it round-trips through the discriminated union
    assert parse_control_message(wire) == model


def test_to_wire_leaves_out_unset_and_none() -> None:
    assert to_wire(Say(content="hi")) == {"type": "say", "content": "hi"}
    dest = TransferNumberDestination(number="+14155550123", extension=None, caller_id=None)
    assert to_wire(Transfer(destination=dest, content=None)) == {
        "type": "transfer",
        "destination": {"type": "number", "number": "+14155550123"},
    }
    # "" is meaningful (silent transfer) and must survive
    silent = Transfer(destination=TransferNumberDestination(number="+14155550123", message=""))
    assert to_wire(silent)["destination"]["message"] == ""
    assert "null" not in json.dumps([to_wire(m) for m, _ in WIRE_CASES])


def test_type_is_sent_even_when_passed_explicitly_or_from_dict() -> None:
    assert to_wire(EndCall(type="end-call")) == {"type": "end-call"}
    msg = parse_control_message({"type": "transfer", "destination": {"type": "sip", "sipUri": "sip:a@b.c"}})
    assert to_wire(msg) == {"type": "transfer", "destination": {"type": "sip", "sipUri": "sip:a@b.c"}}


def test_snake_case_and_camel_case_input_both_accepted() -> None:
    a = Say(content="x", end_call_after_spoken=True)
    b = Say.model_validate({"content": "x", "endCallAfterSpoken": True})
    assert to_wire(a) == to_wire(b) == {"type": "say", "content": "x", "endCallAfterSpoken": True}


@pytest.mark.parametrize(
    "build",
    [
        lambda: Control(control="mute-everyone"),
        lambda: ChatMessage(role="bot", content="x"),
        lambda: TransferPlan(mode="warm-transfer-with-message"),  # legacy name, silently blind at Vapi
        lambda: ContextEngineeringPlan(type="lastNMessages"),
        lambda: ContextEngineeringPlan(type="all", max_messages=3),
        lambda: ContextEngineeringPlan(type="lastNMessages", max_messages=0),
        lambda: ContextEngineeringPlan(type="everything"),
        lambda: TransferPlan(mode="blind-transfer", context_engineering_plan={"type": "userAndAssistantMessages"}),
        lambda: Say(content=""),
        lambda: Say(content="x", end_call=True),  # typo: extra fields are forbidden on what we send
        lambda: AppendContext(kind="whisper", content="x"),
        lambda: HandoffAssistantDestination(),
        lambda: HandoffAssistantDestination(assistant_id="a", assistant_name="b"),
        lambda: HandoffSquadDestination(),
        lambda: TransferSipDestination(sip_uri="sip:a@b.c", extension="1"),
        lambda: parse_control_message({"type": "transfer", "destination": {"type": "pstn", "number": "+1"}}),
        lambda: parse_control_message({"type": "hangup"}),
        lambda: parse_control_message({"content": "no type"}),
    ],
)
def test_validation_errors(build: Any) -> None:
    with pytest.raises(ValidationError):
        build()
