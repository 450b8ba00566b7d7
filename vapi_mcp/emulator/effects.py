"""What each *validated* control message does to a live call (reference/vapi-api.md §7.7).

``end-call`` ends it; ``say`` adds assistant speech (and may end the call once spoken); mute/unmute silence or
restore a party's channel; ``transfer`` forwards then ends with ``assistant-forwarded-call``; ``handoff`` changes
the assistant and the call goes on; ``add-message`` and ``append-context`` land in the artifact and context.
"""

from __future__ import annotations

from typing import Any

from vapi_mcp.emulator.scenario import Party
from vapi_mcp.emulator.state import CallState
from vapi_mcp.emulator.wire import as_object

__all__ = ["DEFAULT_FIRST_MESSAGE", "apply_control"]

DEFAULT_FIRST_MESSAGE = "Hello, how can I help you today?"
FORWARDING_S = 1.0  # call seconds a transfer stays in "forwarding" when nothing is spoken first

_ARTIFACT_ROLE = {
    "assistant": "bot",
    "user": "user",
    "system": "system",
    "tool": "tool_call_result",
    "function": "tool_call_result",
}
_MUTES: dict[str, tuple[Party, bool]] = {
    "mute-assistant": ("assistant", True),
    "unmute-assistant": ("assistant", False),
    "mute-customer": ("customer", True),
    "unmute-customer": ("customer", False),
}


def _first_message(call: CallState) -> str:
    for source in (as_object(call.request.get("assistantOverrides")), as_object(call.request.get("assistant"))):
        text = source.get("firstMessage") if source is not None else None
        if isinstance(text, str) and text:
            return text
    return DEFAULT_FIRST_MESSAGE


def _apply_say(call: CallState, body: dict[str, Any]) -> None:
    text = body.get("content") if isinstance(body.get("content"), str) else body.get("message")
    if not isinstance(text, str) or not text:
        return  # Vapi's schema makes every say field optional; an empty say says nothing
    call.say(text)
    if body.get("endCallAfterSpoken") is True:
        # The say may queue behind speech in progress: end when everything the assistant says now is over.
        call.end_at(call.audio.assistant_busy_until_s, "assistant-ended-call-after-message-spoken")


def _apply_control_value(call: CallState, value: str) -> None:
    if value == "say-first-message":
        call.say(_first_message(call))
        return
    party, muted = _MUTES[value]
    call.set_muted(party, muted)


def _apply_transfer(call: CallState, body: dict[str, Any]) -> None:
    # Forwarding lasts ~1 s of call time, or until the spoken content (if any) is over.
    end_at = call.audio.position_s + FORWARDING_S
    content = body.get("content")
    if isinstance(content, str) and content:
        call.say(content)
        end_at = max(end_at, call.audio.assistant_busy_until_s)
    call.forward(as_object(body.get("destination")), at_s=end_at)


def _handoff_target(destination: dict[str, Any]) -> str:
    for key in ("assistantId", "assistantName", "squadId"):
        value = destination.get(key)
        if isinstance(value, str):
            return value
    named = as_object(destination.get("assistant")) or as_object(destination.get("squad")) or {}
    name = named.get("name", "transient")
    return name if isinstance(name, str) else "transient"


def _apply_handoff(call: CallState, body: dict[str, Any]) -> None:
    destination = as_object(body["destination"]) or {}
    call.handoffs.append({"destination": destination, "content": body.get("content")})
    call.current_assistant = _handoff_target(destination)
    content = body.get("content")
    if isinstance(content, str) and content:
        call.say(content)


def apply_control(call: CallState, body: dict[str, Any]) -> None:
    """Apply a *validated* control message to a live call."""
    kind = body["type"]
    if kind == "say":
        _apply_say(call, body)
    elif kind == "add-message":
        message = body["message"]
        call.add_artifact_message(_ARTIFACT_ROLE[message["role"]], message["content"])
    elif kind == "control":
        _apply_control_value(call, body["control"])
    elif kind == "end-call":
        call.end(call.options.end_call_reason)
    elif kind == "transfer":
        _apply_transfer(call, body)
    elif kind == "handoff":
        _apply_handoff(call, body)
    elif kind == "send-transport-message":
        call.transport_messages.append(body["message"])
    elif kind == "append-context":
        call.context.append({"kind": body["kind"], "content": body["content"]})
        if body["kind"] == "commentary":  # spoken, in the model's own words (we use the words as given)
            call.say(body["content"])
