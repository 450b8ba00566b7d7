"""The emulator's own validator of control messages, written from Vapi's published schema.

It is independent of ``vapi_mcp.vapi`` on purpose: the emulator exists to check what our client *actually*
sends, so it must not share the client's models (a bug in those models would then pass its own test). It
follows Vapi's schema (reference/vapi-api.md §1.2-1.4) strictly:

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

from vapi_mcp.emulator.wire import as_object, whole_number

__all__ = [
    "CONTROL_VALUES",
    "E164",
    "MESSAGE_TYPES",
    "TRANSFER_MODES",
    "WARM_MESSAGE_MODES",
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
# Warm modes that speak transferPlan.message to the destination; warm-transfer-twiml runs transferPlan.twiml.
WARM_MESSAGE_MODES = (
    "warm-transfer-say-message",
    "warm-transfer-wait-for-operator-to-speak-first-and-then-say-message",
)
MAX_LENGTHS = {"message": 1000, "twiml": 4096}  # Vapi's limits on transferPlan.message and .twiml
CONTEXT_KINDS = ("commentary", "thinking", "instructions")
HANDOFF_CONTEXT_TYPES = ("all", "none", "lastNMessages", "userAndAssistantMessages", "previousAssistantMessages")

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
    number = whole_number(value) if isinstance(value, int | float) else None  # 10.0 is 10 (JS numbers)
    if number is None:
        return [f"{path} must be an integer number"]
    return [] if number >= 1 else [f"{path} must not be less than 1"]


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
        obj = as_object(value)
        if obj is None:
            return [f"{path or 'body'} must be an object"]
        problems: list[str] = []
        for key, item in obj.items():
            if key not in fields:
                problems.append(f"property {_join(path, key)} should not exist")
            else:
                problems.extend(fields[key](item, _join(path, key)))
        problems.extend(f"{_join(path, key)} should not be empty" for key in required if key not in obj)
        if one_of and not any(key in obj for key in one_of):
            problems.append(f"{path or 'body'} must have one of {', '.join(one_of)}")
        return problems

    return check


def _tagged(tag: str, variants: Mapping[str, Check]) -> Check:
    """A union discriminated by the value of ``tag`` (Vapi's ``type`` / ``transport``)."""

    def check(value: Any, path: str) -> list[str]:
        obj = as_object(value)
        if obj is None:
            return [f"{path} must be an object"]
        kind = obj.get(tag)
        variant = variants.get(kind) if isinstance(kind, str) else None
        if variant is None:
            return [f"{_join(path, tag)} must be one of the following values: {', '.join(variants)}"]
        return variant(obj, path)

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


_TRANSFER_PLAN_FIELDS = _obj(
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


def _transfer_plan(value: Any, path: str) -> list[str]:
    """The closed object, plus what each warm mode needs to say anything (Vapi's docs, warm-transfer guide).

    Vapi accepts a ``warm-transfer-say-message`` plan without ``message`` and then transfers with no
    introduction at all (its troubleshooting table); like an unknown key, the emulator refuses it instead, so a
    client that meant a warm transfer cannot silently make a blind one. The length limits are Vapi's.
    """
    problems = _TRANSFER_PLAN_FIELDS(value, path)
    plan = as_object(value)
    if plan is None or problems:
        return problems
    mode = plan["mode"]
    needed = "twiml" if mode == "warm-transfer-twiml" else "message" if mode in WARM_MESSAGE_MODES else None
    given = plan.get(needed) if needed else None
    if needed and (given is None or given == ""):
        problems.append(f"{_join(path, needed)} should not be empty when mode is {mode}")
    for key, limit in MAX_LENGTHS.items():
        text = plan.get(key)
        if isinstance(text, str) and len(text) > limit:
            problems.append(f"{_join(path, key)} must be shorter than or equal to {limit} characters")
    return problems


_TRANSFER_PLAN = _transfer_plan
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


def _number_destination(value: dict[str, Any], path: str) -> list[str]:
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
_BARE_CONTEXT_TYPES = tuple(t for t in HANDOFF_CONTEXT_TYPES if t != "lastNMessages")
_HANDOFF_CONTEXT = _context_plan(_BARE_CONTEXT_TYPES)


def _handoff_context(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        # The docs' bare-string form; lastNMessages cannot be expressed without maxMessages.
        return _enum(*_BARE_CONTEXT_TYPES)(value, path)
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
    message = as_object(body)
    if message is None:
        return ["body must be a JSON object"]
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in _MESSAGES:
        return [f"type must be one of the following values: {', '.join(MESSAGE_TYPES)}"]
    return _MESSAGES[kind](message, "")
