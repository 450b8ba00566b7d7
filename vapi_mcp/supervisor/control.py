"""Agent intents as Vapi control messages: pure builders, checked against policy, no I/O.

Each builder returns the message to send and a short summary for the ``control.sent`` event
(never the whole message: transient assistants can be large, and the log is for humans).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from vapi_mcp.errors import InvalidInput
from vapi_mcp.policy import check_nested_destinations, check_transfer_allowed, classify_destination
from vapi_mcp.vapi import (
    AddMessage,
    ChatMessage,
    ContextEngineeringPlan,
    ControlMessage,
    CreateCallRequest,
    Customer,
    Handoff,
    HandoffAssistantDestination,
    Say,
    Transfer,
    TransferNumberDestination,
    TransferPlan,
    TransferSipDestination,
)
from vapi_mcp.vapi.models import AssistantOverrides, MonitorPlan, TransferMode, to_wire

__all__ = [
    "ContextMode",
    "Summary",
    "add_message",
    "create_request",
    "describe",
    "handoff",
    "say",
    "transfer",
]

ContextMode = Literal["all", "none", "lastNMessages"]
Summary = dict[str, Any]
Built = tuple[ControlMessage, Summary]


def create_request(
    *,
    customer_number: str,
    customer_name: str | None,
    assistant_id: str | None,
    assistant: dict[str, Any] | None,
    squad_id: str | None,
    phone_number_id: str | None,
    authenticated_monitor: bool,
    allowlist: tuple[str, ...] = (),
) -> CreateCallRequest:
    """``POST /call`` with listen and control enabled, for exactly one of assistant_id, assistant, squad_id.

    A transient assistant can carry transfer destinations of its own (``forwardingPhoneNumber``, its
    ``transferCall`` tools…): every one must pass the allowlist, or nothing is sent.
    """
    chosen = [
        name for name, v in (("assistant_id", assistant_id), ("assistant", assistant), ("squad_id", squad_id)) if v
    ]
    if len(chosen) != 1:
        raise InvalidInput(f"give exactly one of assistant_id, assistant or squad_id (got {chosen or 'none'})")
    if assistant is not None:
        check_transient(assistant, allowlist)
    monitor = MonitorPlan(
        listen_enabled=True,
        control_enabled=True,
        listen_authentication_enabled=authenticated_monitor,
        control_authentication_enabled=authenticated_monitor,
    )
    # Vapi applies assistantOverrides to an assistant only; a squad takes the same object as squadOverrides.
    overrides = AssistantOverrides(monitor_plan=monitor)
    return CreateCallRequest(
        assistant_id=assistant_id,
        assistant=assistant,
        squad_id=squad_id,
        phone_number_id=phone_number_id,
        customer=Customer(number=customer_number, name=customer_name),
        assistant_overrides=None if squad_id else overrides,
        squad_overrides=overrides if squad_id else None,
    )


def check_transient(assistant: dict[str, Any], allowlist: tuple[str, ...]) -> None:
    """A transient assistant must be sendable (valid Unicode) and send the call nowhere the policy forbids."""
    try:
        json.dumps(assistant, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("assistant holds text that is not valid Unicode (a lone surrogate escape)") from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"assistant is not a JSON object Vapi can read ({type(exc).__name__})") from None
    check_nested_destinations(assistant, allowlist, path="assistant")


def say(content: str, *, end_call_after_spoken: bool, interrupt_assistant: bool) -> Built:
    message = Say(
        content=content,
        end_call_after_spoken=end_call_after_spoken,
        interrupt_assistant_enabled=interrupt_assistant,
    )
    return message, {"content": clip(content), "endCallAfterSpoken": end_call_after_spoken}


def add_message(content: str, *, role: Literal["system", "user", "assistant"], trigger_response: bool) -> Built:
    message = AddMessage(message=ChatMessage(role=role, content=content), trigger_response_enabled=trigger_response)
    return message, {"role": role, "content": clip(content), "triggerResponse": trigger_response}


def transfer(
    destination: str,
    *,
    allowlist: tuple[str, ...],
    message: str | None = None,
    extension: str | None = None,
    caller_id: str | None = None,
    mode: TransferMode | None = None,
    operator_message: str | None = None,
    twiml: str | None = None,
) -> Built:
    """A transfer to a number or SIP URI, refused before anything is sent if the allowlist says no."""
    kind = classify_destination(destination)
    check_transfer_allowed(destination, allowlist)
    if (operator_message or twiml) and mode is None:
        raise InvalidInput("operator_message and twiml need a warm-transfer mode")
    plan = TransferPlan(mode=mode, message=operator_message, twiml=twiml) if mode else None
    dest: TransferNumberDestination | TransferSipDestination
    if kind == "number":
        dest = TransferNumberDestination(
            number=destination, extension=extension, caller_id=caller_id, transfer_plan=plan
        )
    else:
        if extension:
            raise InvalidInput("extension applies to phone-number destinations only, not SIP URIs")
        dest = TransferSipDestination(sip_uri=destination, caller_id=caller_id, transfer_plan=plan)
    if twiml:  # TwiML can dial out on its own: what it may reach is checked like any destination
        check_nested_destinations(to_wire(dest), allowlist, path="destination")
    built = Transfer(destination=dest, content=message) if message else Transfer(destination=dest)
    return built, {"destination": destination, "kind": kind, "mode": mode}


def handoff(
    *,
    assistant_id: str | None,
    assistant: dict[str, Any] | None,
    context: ContextMode,
    max_messages: int | None,
    message: str | None,
    allowlist: tuple[str, ...] = (),
) -> Built:
    """A handoff to a saved or transient assistant; a transient one's own destinations must pass the allowlist."""
    if bool(assistant_id) == bool(assistant):
        raise InvalidInput("give exactly one of assistant_id or assistant")
    if assistant is not None:
        check_transient(assistant, allowlist)
    if context == "lastNMessages" and max_messages is None:
        raise InvalidInput("context=lastNMessages needs max_messages")
    if context != "lastNMessages" and max_messages is not None:
        raise InvalidInput("max_messages applies only to context=lastNMessages")
    plan = ContextEngineeringPlan(type=context, max_messages=max_messages)
    dest = HandoffAssistantDestination(context_engineering_plan=plan, assistant_id=assistant_id, assistant=assistant)
    built = Handoff(destination=dest, content=message) if message else Handoff(destination=dest)
    return built, {"assistantId": assistant_id, "context": context}


def describe(kind: str, summary: Summary) -> str:
    """One line for the agent saying what was sent and what happens next."""
    if kind == "control":
        return f"{summary.get('control')} sent"
    if kind == "transfer":
        return f"transfer to {summary.get('destination')} sent; the call will forward, then end"
    if kind == "end-call":
        return "end-call sent; the call is ending"
    return f"{kind} sent"


def clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
