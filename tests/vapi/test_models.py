"""Wire shapes of the Vapi models: exact JSON out (reference §1.4), tolerant parsing in, sealed monitor URLs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from vapi_mcp.vapi import (
    AddMessage,
    AppendContext,
    AssistantOverrides,
    Call,
    ChatMessage,
    ContextEngineeringPlan,
    Control,
    CreateCallRequest,
    Customer,
    EndCall,
    Handoff,
    HandoffAssistantDestination,
    HandoffSquadDestination,
    MonitorPlan,
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

LISTEN_URL = "wss://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/7420f27a/listen"
CONTROL_URL = "https://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/7420f27a/control"

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


def test_create_call_request_by_alias_without_nulls() -> None:
    # the supervisor passes unused choices as None and overrides as a camelCase dict
    request = CreateCallRequest(
        assistant_id="asst-1",
        assistant=None,
        squad_id=None,
        phone_number_id="pn-1",
        customer=Customer(number="+14155550123", name=None),
        assistant_overrides={
            "monitorPlan": {
                "listenEnabled": True,
                "controlEnabled": True,
                "listenAuthenticationEnabled": False,
                "controlAuthenticationEnabled": False,
            },
            "variableValues": {"first_name": "Sarah"},
            "firstMessage": "Hi Sarah",
        },
    )
    assert to_wire(request) == {
        "assistantId": "asst-1",
        "phoneNumberId": "pn-1",
        "customer": {"number": "+14155550123"},
        "assistantOverrides": {
            "monitorPlan": {
                "listenEnabled": True,
                "controlEnabled": True,
                "listenAuthenticationEnabled": False,
                "controlAuthenticationEnabled": False,
            },
            "variableValues": {"first_name": "Sarah"},
            "firstMessage": "Hi Sarah",
        },
    }


def test_create_call_request_models_and_defaults() -> None:
    request = CreateCallRequest(
        assistant={"name": "transient", "firstMessage": "Hello"},
        customer=Customer(sip_uri="sip:bob@example.com", name="Bob"),
        assistant_overrides=AssistantOverrides(monitor_plan=MonitorPlan()),
    )
    # MonitorPlan's two switches go out even at their defaults: older orgs defaulted them to off
    assert to_wire(request) == {
        "assistant": {"name": "transient", "firstMessage": "Hello"},
        "customer": {"sipUri": "sip:bob@example.com", "name": "Bob"},
        "assistantOverrides": {"monitorPlan": {"listenEnabled": True, "controlEnabled": True}},
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"customer": {"number": "+1415"}},  # no assistant at all
        {"assistant_id": "a", "squad_id": "s", "customer": {"number": "+1415"}},
        {"assistant_id": "a", "customer": {"name": "nobody"}},  # unreachable customer
        {"assistant_id": "a", "customer": {"number": "+1415"}, "assistant_overrides": {"first_message": "x"}},
        {"assistant_id": "a", "customer": {"number": "+1415"}, "metadata": {"x": 1}},
    ],
)
def test_create_call_request_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CreateCallRequest(**kwargs)


CALL_JSON: dict[str, Any] = {
    "id": "7420f27a-30fd-4f49-a995-5549ae7cc00d",
    "orgId": "eb166faa-7145-46ef-8044-589b47ae3b56",
    "type": "outboundPhoneCall",
    "status": "in-progress",
    "createdAt": "2026-09-10T11:14:12.339Z",
    "updatedAt": "2026-09-10T11:14:20.100Z",
    "startedAt": "2026-09-10T11:14:18.002Z",
    "assistantId": "5b0a4a08-133c-4146-9315-0984f8c6be80",
    "assistantOverrides": {"monitorPlan": {"listenEnabled": True, "controlEnabled": True}},
    "phoneNumberId": "42b4b25d-031e-4786-857f-63b346c9580f",
    "customer": {"number": "+12345678913", "name": "Sarah", "numberE164CheckEnabled": True},
    "phoneCallProvider": "twilio",
    "cost": 0,
    "monitor": {"listenUrl": LISTEN_URL, "controlUrl": CONTROL_URL, "monitors": []},
    "messages": [],
    "artifact": {"messages": [], "transcript": ""},
    "transport": {"provider": "vapi.websocket", "websocketCallUrl": "wss://x.vapi.ai/abc/transport"},
}


def test_call_parses_the_reference_example_tolerantly() -> None:
    call = Call.model_validate(CALL_JSON)
    assert call.id == CALL_JSON["id"]
    assert call.status == "in-progress"
    assert call.created_at == "2026-09-10T11:14:12.339Z"
    assert call.customer is not None and call.customer.number == "+12345678913"
    assert call.cost == 0
    assert call.control_available and call.listen_available
    assert call.monitor is not None and call.monitor.control_url is not None
    assert call.monitor.control_url.get_secret_value() == CONTROL_URL
    # unknown statuses are kept, unknown fields ignored
    odd = Call.model_validate({"id": "c", "status": "teleporting", "brandNewField": {"a": 1}})
    assert odd.status == "teleporting" and not odd.control_available and not odd.ended
    assert Call.model_validate({"id": "c", "status": "ended"}).ended


def test_call_never_shows_monitor_urls() -> None:
    call = Call.model_validate(CALL_JSON)
    dumps = [
        repr(call),
        str(call),
        repr(call.monitor),
        str(call.model_dump()),
        json.dumps(call.model_dump(mode="json")),
        call.model_dump_json(),
        json.dumps(call.public_dict()),
        json.dumps(call.raw()),
    ]
    for text in dumps:
        for secret in (LISTEN_URL, CONTROL_URL, "/listen", "/control", "websocketCallUrl"):
            assert secret not in text
    assert call.model_dump(mode="json")["monitor"] == {"listen_url": "**********", "control_url": "**********"}


def test_public_dict_and_raw() -> None:
    call = Call.model_validate(CALL_JSON)
    public = call.public_dict()
    assert "monitor" not in public
    assert public["listen_available"] is True and public["control_available"] is True
    assert public["id"] == CALL_JSON["id"] and public["status"] == "in-progress"
    assert public["customer"]["number"] == "+12345678913"
    json.dumps(public)  # JSON-safe
    raw = call.raw()
    assert raw["artifact"] == {"messages": [], "transcript": ""} and "monitor" not in raw
    raw["artifact"]["transcript"] = "mutated"
    assert call.raw()["artifact"]["transcript"] == ""  # a copy each time

    bare = Call.model_validate({"id": "c", "status": "queued", "monitor": {"controlUrl": ""}})
    assert bare.public_dict()["control_available"] is False and bare.public_dict()["listen_available"] is False
