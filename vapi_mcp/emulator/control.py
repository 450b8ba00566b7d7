"""Control messages: the emulator's own validator and the side effects of each message.

The validator is written independently of ``vapi_mcp.vapi`` on purpose: the emulator exists to check what our
client *actually* sends, so it must not share the client's models (a bug in those models would then pass its
own test). It follows Vapi's published schema (reference/vapi-api.md §1.2-1.4) strictly:

* the union is discriminated by ``type``; an unknown type is a 400;
* every object is closed: any key the schema does not name (``end_call_after_spoken``, ``transfer_plan``, ...)
  is a 400 here, although real Vapi may silently drop it. Silently dropping is exactly how a warm transfer turns
  into a blind one in production (ref §6), so the emulator is louder than Vapi on purpose;
* enums, JSON types and required fields are checked, and every problem is reported, NestJS style, as one string
  per problem in ``message`` (``{"message": [...], "error": "Bad Request", "statusCode": 400}``).

Documented leniencies, matching what Vapi is known to accept: ``say`` takes ``content`` or the legacy ``message``;
``handoff``'s ``contextEngineeringPlan`` may be the bare string the docs show (``"none"``) or the schema's object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from vapi_mcp.emulator.state import CallState

__all__ = [
    "CONTROL_VALUES",
    "MESSAGE_TYPES",
    "TRANSFER_MODES",
    "apply_control",
    "validate_control_message",
]

Check = Callable[[Any, str], list[str]]

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
ROLES = ("assistant", "function", "user", "system", "tool")
CONTROL_VALUES = ("mute-assistant", "unmute-assistant", "mute-customer", "unmute-customer", "say-first-message")
TRANSFER_MODES = (
    "blind-transfer",
    "blind-transfer-add-summary-to-sip-header",
    "warm-transfer-say-message",
    "warm-transfer-say-summary",
    "warm-transfer-twiml",
    "warm-transfer-wait-for-operator-to-speak-first-and-then-say-message",
    "warm-transfer-wait-for-operator-to-speak-first-and-then-say-summary",
    "warm-transfer-experimental",
)
CONTEXT_KINDS = ("commentary", "thinking", "instructions")
HANDOFF_CONTEXT_TYPES = ("all", "none", "lastNMessages", "userAndAssistantMessages", "previousAssistantMessages")
DEFAULT_FIRST_MESSAGE = "Hello, how can I help you today?"

# --- tiny declarative checkers ---------------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _string(value: Any, path: str) -> list[str]:
    return [] if isinstance(value, str) else [f"{path} must be a string"]


def _boolean(value: Any, path: str) -> list[str]:
    return [] if isinstance(value, bool) else [f"{path} must be a boolean value"]


def _number(value: Any, path: str) -> list[str]:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return [] if ok else [f"{path} must be a number conforming to the specified constraints"]


def _positive_int(value: Any, path: str) -> list[str]:
    if not isinstance(value, int) or isinstance(value, bool):
        return [f"{path} must be an integer number"]
    return [] if value >= 1 else [f"{path} must not be less than 1"]


def _array(value: Any, path: str) -> list[str]:
    return [] if isinstance(value, list) else [f"{path} must be an array"]


def _any_object(value: Any, path: str) -> list[str]:
    return [] if isinstance(value, dict) else [f"{path} must be an object"]


def _enum(*values: str) -> Check:
    def check(value: Any, path: str) -> list[str]:
        if isinstance(value, str) and value in values:
            return []
        return [f"{path} must be one of the following values: {', '.join(values)}"]

    return check


def _sip_uri(value: Any, path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path} must be a string"]
    return [] if re.match(r"^sips?:[^\s@]+(@[^\s]+)?$", value) else [f"{path} must be a valid SIP URI (sip:...)"]


def _e164(value: Any, path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path} must be a string"]
    return [] if E164.match(value) else [f"{path} must be a valid phone number in the E.164 format"]


def _obj(fields: Mapping[str, Check], required: tuple[str, ...] = (), one_of: tuple[str, ...] = ()) -> Check:
    """A closed object: unknown keys, missing required keys and bad values are all problems."""

    def check(value: Any, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path or 'body'} must be an object"]
        problems: list[str] = []
        for key, item in value.items():
            if key not in fields:
                problems.append(f"property {_join(path, key)} should not exist")
            else:
                problems.extend(fields[key](item, _join(path, key)))
        problems.extend(f"{_join(path, key)} should not be empty" for key in required if key not in value)
        if one_of and not any(key in value for key in one_of):
            problems.append(f"{path or 'body'} must have one of {', '.join(one_of)}")
        return problems

    return check


def _tagged(tag: str, variants: Mapping[str, Check]) -> Check:
    """A union discriminated by the value of ``tag`` (Vapi's ``type`` / ``transport``)."""

    def check(value: Any, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path} must be an object"]
        variant = variants.get(value.get(tag)) if isinstance(value.get(tag), str) else None
        if variant is None:
            return [f"{_join(path, tag)} must be one of the following values: {', '.join(variants)}"]
        return variant(value, path)

    return check


def _string_or(other: Check) -> Check:
    def check(value: Any, path: str) -> list[str]:
        return [] if isinstance(value, str) else other(value, path)

    return check


# --- the schema ---------------------------------------------------------------------------------------------------

_TYPE = _string  # the discriminator itself was checked before the variant ran
_CUSTOM_MESSAGE = _obj(
    {
        "type": _enum("custom-message"),
        "content": _string,
        "contents": _array,
    },
    required=("type",),
)
_SPOKEN_MESSAGE = _string_or(_CUSTOM_MESSAGE)


def _context_plan(types: tuple[str, ...]) -> Check:
    variants: dict[str, Check] = {name: _obj({"type": _string}) for name in types}
    variants["lastNMessages"] = _obj({"type": _string, "maxMessages": _positive_int}, required=("maxMessages",))
    return _tagged("type", variants)


_TRANSFER_PLAN = _obj(
    {
        "mode": _enum(*TRANSFER_MODES),
        "message": _SPOKEN_MESSAGE,
        "timeout": _number,
        "sipVerb": _enum("refer", "bye", "dial"),
        "dialTimeout": _number,
        "holdAudioUrl": _string,
        "transferCompleteAudioUrl": _string,
        "contextEngineeringPlan": _context_plan(("all", "none")),
        "twiml": _string,
        "summaryPlan": _any_object,
        "sipHeadersInReferToEnabled": _boolean,
        "fallbackPlan": _any_object,
    },
    required=("mode",),
)
_NUMBER_FIELDS: dict[str, Check] = {
    "type": _TYPE,
    "number": _string,
    "numberE164CheckEnabled": _boolean,
    "extension": _string,
    "callerId": _string,
    "message": _SPOKEN_MESSAGE,
    "transferPlan": _TRANSFER_PLAN,
    "name": _string,
    "description": _string,
}


def _number_destination(value: Any, path: str) -> list[str]:
    problems = _obj(_NUMBER_FIELDS, required=("number",))(value, path)
    # E.164 is enforced unless the caller opted out, as Vapi's numberE164CheckEnabled (default true) says.
    if isinstance(value.get("number"), str) and value.get("numberE164CheckEnabled") is not False:
        problems.extend(_e164(value["number"], _join(path, "number")))
    return problems


_SIP_DESTINATION = _obj(
    {
        "type": _TYPE,
        "sipUri": _sip_uri,
        "callerId": _string,
        "sipHeaders": _any_object,
        "message": _SPOKEN_MESSAGE,
        "transferPlan": _TRANSFER_PLAN,
        "name": _string,
        "description": _string,
    },
    required=("sipUri",),
)
_HANDOFF_CONTEXT = _context_plan(tuple(t for t in HANDOFF_CONTEXT_TYPES if t != "lastNMessages"))


def _handoff_context(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        # The docs' bare-string form; lastNMessages cannot be expressed without maxMessages.
        bare = tuple(t for t in HANDOFF_CONTEXT_TYPES if t != "lastNMessages")
        return _enum(*bare)(value, path)
    return _HANDOFF_CONTEXT(value, path)


_ASSISTANT_DESTINATION = _obj(
    {
        "type": _TYPE,
        "assistantId": _string,
        "assistantName": _string,
        "assistant": _any_object,
        "contextEngineeringPlan": _handoff_context,
        "assistantOverrides": _any_object,
        "variableExtractionPlan": _any_object,
        "description": _string,
    },
    one_of=("assistantId", "assistantName", "assistant"),
)
_SQUAD_DESTINATION = _obj(
    {
        "type": _TYPE,
        "squadId": _string,
        "squad": _any_object,
        "entryAssistantName": _string,
        "contextEngineeringPlan": _handoff_context,
        "variableExtractionPlan": _any_object,
        "squadOverrides": _any_object,
        "description": _string,
    },
    one_of=("squadId", "squad"),
)
_TRANSPORT_MESSAGE = _tagged(
    "transport",
    {
        "vapi.sip": _obj(
            {
                "transport": _string,
                "sipVerb": _enum("INFO", "MESSAGE", "NOTIFY"),
                "headers": _any_object,
                "body": _string,
            },
            required=("sipVerb",),
        ),
        "twilio": _obj({"transport": _string, "twiml": _string}, required=("twiml",)),
    },
)

_MESSAGES: dict[str, Check] = {
    "say": _obj(
        {
            "type": _TYPE,
            "content": _string,
            "message": _string,  # legacy name still sent by @vapi-ai/web
            "endCallAfterSpoken": _boolean,
            "interruptionsEnabled": _boolean,
            "interruptAssistantEnabled": _boolean,
        }
    ),
    "add-message": _obj(
        {
            "type": _TYPE,
            "message": _obj({"role": _enum(*ROLES), "content": _string}, required=("role", "content")),
            "triggerResponseEnabled": _boolean,
        },
        required=("message",),
    ),
    "control": _obj(
        {"type": _TYPE, "control": _enum(*CONTROL_VALUES), "videoRecordingStartDelaySeconds": _number},
        required=("control",),
    ),
    "end-call": _obj({"type": _TYPE}),
    "transfer": _obj(
        {
            "type": _TYPE,
            "destination": _tagged("type", {"number": _number_destination, "sip": _SIP_DESTINATION}),
            "content": _string,
        }
    ),
    "handoff": _obj(
        {
            "type": _TYPE,
            "destination": _tagged("type", {"assistant": _ASSISTANT_DESTINATION, "squad": _SQUAD_DESTINATION}),
            "content": _string,
        },
        required=("destination",),
    ),
    "send-transport-message": _obj({"type": _TYPE, "message": _TRANSPORT_MESSAGE}, required=("message",)),
    "append-context": _obj(
        {"type": _TYPE, "kind": _enum(*CONTEXT_KINDS), "content": _string}, required=("kind", "content")
    ),
}
MESSAGE_TYPES: tuple[str, ...] = tuple(_MESSAGES)


def validate_control_message(body: Any) -> list[str]:
    """Every problem with a control body, one NestJS-style string each; ``[]`` means valid."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in _MESSAGES:
        return [f"type must be one of the following values: {', '.join(MESSAGE_TYPES)}"]
    return _MESSAGES[kind](body, "")


# --- side effects ---------------------------------------------------------------------------------------------------

_ARTIFACT_ROLE = {
    "assistant": "bot",
    "user": "user",
    "system": "system",
    "tool": "tool_call_result",
    "function": "tool_call_result",
}


def _first_message(call: CallState) -> str:
    for source in (call.request.get("assistantOverrides"), call.request.get("assistant")):
        if isinstance(source, dict) and isinstance(source.get("firstMessage"), str) and source["firstMessage"]:
            return str(source["firstMessage"])
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
    action, _, party = value.partition("-")
    call.set_muted(party, action == "mute")


def _apply_transfer(call: CallState, body: dict[str, Any]) -> None:
    # Forwarding lasts ~1 s of call time, or until the spoken content (if any) is over.
    end_at = call.audio.position_s + 1.0
    if isinstance(body.get("content"), str) and body["content"]:
        call.say(body["content"])
        end_at = max(end_at, call.audio.assistant_busy_until_s)
    call.forward(body.get("destination"), at_s=end_at)


def _apply_handoff(call: CallState, body: dict[str, Any]) -> None:
    destination = body["destination"]
    call.handoffs.append({"destination": destination, "content": body.get("content")})
    for key in ("assistantId", "assistantName", "squadId"):
        if isinstance(destination.get(key), str):
            call.current_assistant = destination[key]
            break
    else:
        named = destination.get("assistant") or destination.get("squad") or {}
        call.current_assistant = named.get("name", "transient") if isinstance(named, dict) else "transient"
    if isinstance(body.get("content"), str) and body["content"]:
        call.say(body["content"])


def apply_control(call: CallState, body: dict[str, Any]) -> None:
    """Apply a *validated* control message to a live call (ref §7.7)."""
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
