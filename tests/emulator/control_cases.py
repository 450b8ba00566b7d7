"""Control message cases for the endpoint tests: every type as Vapi's schema has it, and what it refuses."""

from __future__ import annotations

from typing import Any

ASSISTANT_ID = "5b0a4a08-133c-4146-9315-0984f8c6be80"

VALID: list[dict[str, Any]] = [
    {
        "type": "say",
        "content": "A supervisor has joined.",
        "endCallAfterSpoken": False,
        "interruptionsEnabled": False,
        "interruptAssistantEnabled": True,
    },
    {"type": "say", "message": "Legacy field name, still sent by @vapi-ai/web"},
    {"type": "add-message", "message": {"role": "system", "content": "Offer 10%."}, "triggerResponseEnabled": False},
    *({"type": "add-message", "message": {"role": role, "content": "x"}} for role in ("assistant", "user", "tool")),
    *(
        {"type": "control", "control": value}
        for value in ("mute-assistant", "unmute-assistant", "mute-customer", "unmute-customer", "say-first-message")
    ),
    {
        "type": "handoff",
        "destination": {
            "type": "assistant",
            "assistantId": ASSISTANT_ID,
            "contextEngineeringPlan": {"type": "lastNMessages", "maxMessages": 10},
        },
        "content": "Handing you to a specialist.",
    },
    {
        "type": "handoff",
        "destination": {
            "type": "assistant",
            "contextEngineeringPlan": "none",
            "assistant": {"name": "new_assistant", "voice": {"provider": "vapi"}},
        },
    },
    {
        "type": "handoff",
        "destination": {
            "type": "assistant",
            "assistantName": "billing",
            "contextEngineeringPlan": {"type": "userAndAssistantMessages"},
        },
    },
    {"type": "handoff", "destination": {"type": "squad", "squadId": "sq-1", "entryAssistantName": "triage"}},
    {
        "type": "send-transport-message",
        "message": {"transport": "vapi.sip", "sipVerb": "INFO", "headers": {"X-Foo": "bar"}, "body": "hello"},
    },
    {"type": "send-transport-message", "message": {"transport": "twilio", "twiml": "<Response/>"}},
    *(
        {"type": "append-context", "kind": kind, "content": "Ask for the order number."}
        for kind in ("commentary", "thinking", "instructions")
    ),
]
ENDING: list[dict[str, Any]] = [
    {"type": "end-call"},
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
    {
        "type": "transfer",
        "destination": {"type": "sip", "sipUri": "sip:agent@example.com", "sipHeaders": {"X-Reason": "escalation"}},
    },
    {
        "type": "transfer",
        "destination": {
            "type": "number",
            "number": "+442071838750",
            "message": {"type": "custom-message", "content": "One moment."},
            "transferPlan": {"mode": "blind-transfer", "sipVerb": "dial", "contextEngineeringPlan": {"type": "none"}},
        },
    },
]
REJECTED: list[tuple[Any, str]] = [
    ({"type": "hangup"}, "type must be one of the following values"),
    ({"content": "no type"}, "type must be one of the following values"),
    (
        {"type": "say", "content": "hi", "end_call_after_spoken": True},
        "property end_call_after_spoken should not exist",
    ),
    ({"type": "say", "content": "hi", "endCallAfterSpoken": "yes"}, "endCallAfterSpoken must be a boolean value"),
    ({"type": "say", "content": 5}, "content must be a string"),
    ({"type": "control", "control": "mute-everyone"}, "control must be one of the following values"),
    ({"type": "control"}, "control should not be empty"),
    ({"type": "add-message"}, "message should not be empty"),
    ({"type": "add-message", "message": {"role": "robot", "content": "x"}}, "message.role must be one of"),
    ({"type": "add-message", "message": {"role": "system"}}, "message.content should not be empty"),
    (
        {"type": "add-message", "message": {"role": "system", "content": "x"}, "trigger_response_enabled": False},
        "property trigger_response_enabled should not exist",
    ),
    ({"type": "end-call", "reason": "done"}, "property reason should not exist"),
    ({"type": "transfer", "destination": {"type": "number", "number": "4155550123"}}, "destination.number"),
    ({"type": "transfer", "destination": {"type": "phone", "number": "+14155550123"}}, "destination.type must be one"),
    (
        {
            "type": "transfer",
            "destination": {
                "type": "number",
                "number": "+14155550123",
                "transfer_plan": {"mode": "warm-transfer-say-summary"},
            },
        },
        "property destination.transfer_plan should not exist",
    ),
    (
        {
            "type": "transfer",
            "destination": {
                "type": "number",
                "number": "+14155550123",
                "transferPlan": {"mode": "warm-transfer-with-summary"},
            },
        },
        "destination.transferPlan.mode must be one of",
    ),
    (
        {"type": "transfer", "destination": {"type": "number", "number": "+14155550123", "transferPlan": {}}},
        "destination.transferPlan.mode should not be empty",
    ),
    ({"type": "transfer", "destination": {"type": "sip", "sipUri": "agent@example.com"}}, "destination.sipUri"),
    ({"type": "transfer", "destination": {"type": "sip"}}, "destination.sipUri should not be empty"),
    ({"type": "handoff"}, "destination should not be empty"),
    ({"type": "handoff", "destination": {"type": "assistant"}}, "destination must have one of assistantId"),
    (
        {
            "type": "handoff",
            "destination": {
                "type": "assistant",
                "assistantId": "a",
                "contextEngineeringPlan": {"type": "lastNMessages"},
            },
        },
        "destination.contextEngineeringPlan.maxMessages should not be empty",
    ),
    (
        {"type": "handoff", "destination": {"type": "assistant", "assistantId": "a", "contextEngineeringPlan": "some"}},
        "destination.contextEngineeringPlan must be one of",
    ),
    (
        {"type": "handoff", "destination": {"type": "assistant", "assistant_id": "a"}},
        "property destination.assistant_id should not exist",
    ),
    (
        {"type": "send-transport-message", "message": {"transport": "vapi.sip", "sipVerb": "BYE"}},
        "message.sipVerb must be one of",
    ),
    ({"type": "append-context", "kind": "gossip", "content": "x"}, "kind must be one of the following values"),
    ({"type": "append-context", "kind": "thinking"}, "content should not be empty"),
    (["type", "say"], "body must be a JSON object"),
]
