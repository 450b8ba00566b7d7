"""The control messages of ``call.monitor.controlUrl`` (the ``ClientInboundMessage`` union, reference §1.2).

One model per ``type``; :data:`ControlMessage` is the discriminated union the client sends, and
:func:`parse_control_message` turns a camelCase (or snake_case) dict into the right one.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, TypeAdapter

from vapi_mcp.vapi.models.base import WireModel
from vapi_mcp.vapi.models.plans import (
    HandoffAssistantDestination,
    HandoffSquadDestination,
    TransferNumberDestination,
    TransferSipDestination,
)

__all__ = [
    "AddMessage",
    "AppendContext",
    "ChatMessage",
    "Control",
    "ControlAction",
    "ControlMessage",
    "EndCall",
    "Handoff",
    "Say",
    "SendTransportMessage",
    "SipTransportMessage",
    "Transfer",
    "TwilioTransportMessage",
    "parse_control_message",
]

ControlAction = Literal["mute-assistant", "unmute-assistant", "mute-customer", "unmute-customer", "say-first-message"]


class ChatMessage(WireModel):
    role: Literal["assistant", "function", "user", "system", "tool"]
    content: str


class SipTransportMessage(WireModel):
    _always: ClassVar[tuple[str, ...]] = ("transport",)
    transport: Literal["vapi.sip"] = "vapi.sip"
    sip_verb: Literal["INFO", "MESSAGE", "NOTIFY"]
    headers: dict[str, str] | None = None
    body: str | None = None


class TwilioTransportMessage(WireModel):
    _always: ClassVar[tuple[str, ...]] = ("transport",)
    transport: Literal["twilio"] = "twilio"
    twiml: str = Field(min_length=1)


class Say(WireModel):
    """Speak ``content`` now. Sent as ``content`` (the legacy ``message`` name is not produced)."""

    type: Literal["say"] = "say"
    content: str = Field(min_length=1)
    end_call_after_spoken: bool | None = None
    interruptions_enabled: bool | None = None
    interrupt_assistant_enabled: bool | None = None


class AddMessage(WireModel):
    """Insert a message into the conversation; Vapi's default for ``triggerResponseEnabled`` is true."""

    type: Literal["add-message"] = "add-message"
    message: ChatMessage
    trigger_response_enabled: bool | None = None


class Control(WireModel):
    type: Literal["control"] = "control"
    control: ControlAction


class EndCall(WireModel):
    type: Literal["end-call"] = "end-call"


class Transfer(WireModel):
    type: Literal["transfer"] = "transfer"
    destination: Annotated[TransferNumberDestination | TransferSipDestination, Field(discriminator="type")]
    content: str | None = None


class Handoff(WireModel):
    """Documented in Vapi's call-features guide only (not in any SDK union): reference §1.2."""

    type: Literal["handoff"] = "handoff"
    destination: Annotated[HandoffAssistantDestination | HandoffSquadDestination, Field(discriminator="type")]
    content: str | None = None


class SendTransportMessage(WireModel):
    type: Literal["send-transport-message"] = "send-transport-message"
    message: Annotated[SipTransportMessage | TwilioTransportMessage, Field(discriminator="transport")]


class AppendContext(WireModel):
    """Only in vapi-server-sdk 3.0.0; acceptance does not guarantee the wording is used."""

    type: Literal["append-context"] = "append-context"
    kind: Literal["commentary", "thinking", "instructions"]
    content: str = Field(min_length=1)


ControlMessage = Annotated[
    Say | AddMessage | Control | EndCall | Transfer | Handoff | SendTransportMessage | AppendContext,
    Field(discriminator="type"),
]
_CONTROL_ADAPTER: TypeAdapter[ControlMessage] = TypeAdapter(ControlMessage)


def parse_control_message(data: Any) -> ControlMessage:
    """Validate a camelCase (or snake_case) dict into the matching control message model."""
    return _CONTROL_ADAPTER.validate_python(data)
