"""Pydantic models of the Vapi wire: control messages, call creation, and the Call object.

Two rules shape this module:

* **What we send is strict and camelCase.** Vapi silently ignores fields it does not know, so a
  snake_case ``transfer_plan`` is not an error on its side: it is a blind transfer (reference §3.1).
  Every outgoing model therefore has camelCase aliases and ``extra="forbid"``, and :func:`to_wire`
  always dumps by alias, leaving out what the caller did not set (no ``null`` on the wire).
* **What we receive is tolerant, and its capabilities are sealed.** A ``Call`` carries dozens of
  fields we do not need and ~600 possible ``endedReason`` values, so unknown fields and values
  pass. Its ``monitor`` URLs are bearer capabilities (whoever has one can listen to or steer the
  call): they are ``SecretStr``, so no repr, log line or ``model_dump`` shows them, and
  :meth:`Call.public_dict` leaves them out entirely.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "AddMessage",
    "AppendContext",
    "AssistantOverrides",
    "Call",
    "CallCustomer",
    "ChatMessage",
    "ContextEngineeringPlan",
    "Control",
    "ControlMessage",
    "CreateCallRequest",
    "Customer",
    "EndCall",
    "Handoff",
    "HandoffAssistantDestination",
    "HandoffSquadDestination",
    "Monitor",
    "MonitorPlan",
    "Say",
    "SendTransportMessage",
    "SipTransportMessage",
    "Transfer",
    "TransferNumberDestination",
    "TransferPlan",
    "TransferSipDestination",
    "TwilioTransportMessage",
    "parse_control_message",
    "to_wire",
]

TransferMode = Literal[
    "blind-transfer",
    "blind-transfer-add-summary-to-sip-header",
    "warm-transfer-say-message",
    "warm-transfer-say-summary",
    "warm-transfer-twiml",
    "warm-transfer-wait-for-operator-to-speak-first-and-then-say-message",
    "warm-transfer-wait-for-operator-to-speak-first-and-then-say-summary",
    "warm-transfer-experimental",
]
ContextType = Literal["all", "none", "lastNMessages", "userAndAssistantMessages", "previousAssistantMessages"]
ControlAction = Literal["mute-assistant", "unmute-assistant", "mute-customer", "unmute-customer", "say-first-message"]


class _Wire(BaseModel):
    """Base of everything we send: camelCase aliases, no unknown fields.

    ``_always`` names fields that go on the wire even when left at their default. Discriminators
    (``type``, ``transport``) have defaults so callers need not repeat them, but ``exclude_unset``
    would drop them, and Vapi cannot route a message without its ``type``.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    _always: ClassVar[tuple[str, ...]] = ("type",)

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.update(name for name in self._always if name in type(self).model_fields)


def to_wire(message: BaseModel) -> dict[str, Any]:
    """The exact JSON object to send: camelCase, only what was set, never ``null``."""
    return message.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)


# --------------------------------------------------------------------------- shared pieces


class ContextEngineeringPlan(_Wire):
    """How much of the conversation the next assistant sees (an object on the wire, never the bare string)."""

    type: ContextType
    max_messages: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _max_messages_iff_last_n(self) -> ContextEngineeringPlan:
        if self.type == "lastNMessages" and self.max_messages is None:
            raise ValueError("contextEngineeringPlan type 'lastNMessages' requires max_messages")
        if self.type != "lastNMessages" and self.max_messages is not None:
            raise ValueError(f"max_messages applies only to type 'lastNMessages', not {self.type!r}")
        return self


class TransferPlan(_Wire):
    """How Vapi performs a transfer (reference §1.3). Mode names are the current enum; old ones fail here."""

    mode: TransferMode
    message: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    sip_verb: Literal["refer", "bye", "dial"] | None = None
    dial_timeout: float | None = Field(default=None, gt=0)
    hold_audio_url: str | None = None
    transfer_complete_audio_url: str | None = None
    context_engineering_plan: ContextEngineeringPlan | None = None
    twiml: str | None = None
    summary_plan: dict[str, Any] | None = None
    sip_headers_in_refer_to_enabled: bool | None = None
    fallback_plan: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _transfer_context_types(self) -> TransferPlan:
        plan = self.context_engineering_plan
        if plan is not None and plan.type not in ("all", "none", "lastNMessages"):
            raise ValueError("a transferPlan contextEngineeringPlan must be 'all', 'none' or 'lastNMessages'")
        return self


class TransferNumberDestination(_Wire):
    type: Literal["number"] = "number"
    number: str = Field(min_length=1)
    extension: str | None = None
    caller_id: str | None = None
    # "" is meaningful: transfer silently instead of saying "Transferring the call now".
    message: str | None = None
    transfer_plan: TransferPlan | None = None
    description: str | None = None
    number_e164_check_enabled: bool | None = None


class TransferSipDestination(_Wire):
    type: Literal["sip"] = "sip"
    sip_uri: str = Field(min_length=1)
    sip_headers: dict[str, str] | None = None
    caller_id: str | None = None
    message: str | None = None
    transfer_plan: TransferPlan | None = None
    description: str | None = None


class HandoffAssistantDestination(_Wire):
    """Hand the call to another assistant: exactly one of ``assistant_id``, ``assistant_name``, ``assistant``.

    ``assistant`` and ``assistant_overrides`` are passed through as given, so their keys must
    already be camelCase.
    """

    type: Literal["assistant"] = "assistant"
    assistant_id: str | None = None
    assistant_name: str | None = None
    assistant: dict[str, Any] | None = None
    context_engineering_plan: ContextEngineeringPlan | None = None
    assistant_overrides: dict[str, Any] | None = None
    variable_extraction_plan: dict[str, Any] | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> HandoffAssistantDestination:
        given = [n for n in ("assistant_id", "assistant_name", "assistant") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of assistant_id, assistant_name or assistant (got {given or 'none'})")
        return self


class HandoffSquadDestination(_Wire):
    """Hand the call to a squad. Inferred from the handoff tool's schema; the control docs show only assistants."""

    type: Literal["squad"] = "squad"
    squad_id: str | None = None
    squad: dict[str, Any] | None = None
    entry_assistant_name: str | None = None
    context_engineering_plan: ContextEngineeringPlan | None = None
    squad_overrides: dict[str, Any] | None = None
    variable_extraction_plan: dict[str, Any] | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> HandoffSquadDestination:
        if (self.squad_id is None) == (self.squad is None):
            raise ValueError("give exactly one of squad_id or squad")
        return self


class ChatMessage(_Wire):
    role: Literal["assistant", "function", "user", "system", "tool"]
    content: str


class SipTransportMessage(_Wire):
    _always: ClassVar[tuple[str, ...]] = ("transport",)
    transport: Literal["vapi.sip"] = "vapi.sip"
    sip_verb: Literal["INFO", "MESSAGE", "NOTIFY"]
    headers: dict[str, str] | None = None
    body: str | None = None


class TwilioTransportMessage(_Wire):
    _always: ClassVar[tuple[str, ...]] = ("transport",)
    transport: Literal["twilio"] = "twilio"
    twiml: str = Field(min_length=1)


# --------------------------------------------------------------------------- control messages


class Say(_Wire):
    """Speak ``content`` now. Sent as ``content`` (the legacy ``message`` name is not produced)."""

    type: Literal["say"] = "say"
    content: str = Field(min_length=1)
    end_call_after_spoken: bool | None = None
    interruptions_enabled: bool | None = None
    interrupt_assistant_enabled: bool | None = None


class AddMessage(_Wire):
    """Insert a message into the conversation; Vapi's default for ``triggerResponseEnabled`` is true."""

    type: Literal["add-message"] = "add-message"
    message: ChatMessage
    trigger_response_enabled: bool | None = None


class Control(_Wire):
    type: Literal["control"] = "control"
    control: ControlAction


class EndCall(_Wire):
    type: Literal["end-call"] = "end-call"


class Transfer(_Wire):
    type: Literal["transfer"] = "transfer"
    destination: Annotated[TransferNumberDestination | TransferSipDestination, Field(discriminator="type")]
    content: str | None = None


class Handoff(_Wire):
    """Documented in Vapi's call-features guide only (not in any SDK union): reference §1.2."""

    type: Literal["handoff"] = "handoff"
    destination: Annotated[HandoffAssistantDestination | HandoffSquadDestination, Field(discriminator="type")]
    content: str | None = None


class SendTransportMessage(_Wire):
    type: Literal["send-transport-message"] = "send-transport-message"
    message: Annotated[SipTransportMessage | TwilioTransportMessage, Field(discriminator="transport")]


class AppendContext(_Wire):
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


# --------------------------------------------------------------------------- creating calls


class MonitorPlan(_Wire):
    """``assistantOverrides.monitorPlan``. Both switches are always sent: older orgs defaulted them to off."""

    _always: ClassVar[tuple[str, ...]] = ("listen_enabled", "control_enabled")
    listen_enabled: bool = True
    control_enabled: bool = True
    listen_authentication_enabled: bool | None = None
    control_authentication_enabled: bool | None = None


class AssistantOverrides(_Wire):
    """Per-call assistant overrides. Known fields are modelled; other camelCase keys pass through.

    A snake_case extra key is refused: Vapi would ignore it without a word.
    """

    model_config = ConfigDict(extra="allow")
    _always: ClassVar[tuple[str, ...]] = ()
    monitor_plan: MonitorPlan | None = None
    variable_values: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _camel_extras(self) -> AssistantOverrides:
        snake = sorted(k for k in (self.model_extra or {}) if "_" in k)
        if snake:
            raise ValueError(f"assistant override keys must be camelCase as Vapi spells them: {snake}")
        return self


class Customer(_Wire):
    _always: ClassVar[tuple[str, ...]] = ()
    number: str | None = None
    name: str | None = None
    sip_uri: str | None = None
    extension: str | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Customer:
        if not self.number and not self.sip_uri:
            raise ValueError("a customer needs a number or a sip_uri")
        return self


class CreateCallRequest(_Wire):
    """Body of ``POST /call``: exactly one of ``assistant_id``, ``assistant`` (transient) or ``squad_id``."""

    _always: ClassVar[tuple[str, ...]] = ()
    assistant_id: str | None = None
    assistant: dict[str, Any] | None = None
    assistant_overrides: AssistantOverrides | None = None
    squad_id: str | None = None
    phone_number_id: str | None = None
    customer: Customer
    name: str | None = None

    @model_validator(mode="after")
    def _one_assistant(self) -> CreateCallRequest:
        given = [n for n in ("assistant_id", "assistant", "squad_id") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of assistant_id, assistant or squad_id (got {given or 'none'})")
        return self


# --------------------------------------------------------------------------- what Vapi returns

_INCOMING = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
# Keys whose values are capabilities wherever they appear in a Call (webCall/websocket calls too).
_CAPABILITY_KEYS = frozenset({"listenUrl", "controlUrl", "websocketCallUrl", "webCallUrl"})


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in _CAPABILITY_KEYS and k != "monitor"}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return copy.copy(value)


class Monitor(BaseModel):
    """``call.monitor``. The URLs are sealed: use ``.get_secret_value()`` only to connect or POST."""

    model_config = _INCOMING
    listen_url: SecretStr | None = None
    control_url: SecretStr | None = None

    @field_validator("listen_url", "control_url", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value


class CallCustomer(BaseModel):
    model_config = _INCOMING
    number: str | None = None
    name: str | None = None
    sip_uri: str | None = None
    extension: str | None = None
    email: str | None = None
    external_id: str | None = None


class Call(BaseModel):
    """A Vapi call as ``GET /call/{id}`` returns it. Timestamps stay ISO strings, as Vapi sent them.

    ``status`` is a plain string: scheduled, queued, ringing, in-progress, forwarding, ended, and
    whatever Vapi adds later.
    """

    model_config = _INCOMING

    id: str = Field(min_length=1)
    org_id: str | None = None
    type: str | None = None
    status: str = "unknown"
    ended_reason: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    assistant_id: str | None = None
    phone_number_id: str | None = None
    squad_id: str | None = None
    customer: CallCustomer | None = None
    cost: float | None = None
    destination: dict[str, Any] | None = None
    monitor: Monitor | None = None

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: Any) -> Call:
        call: Call = handler(data)
        if isinstance(data, dict):
            call._raw = _scrub(data)
        return call

    @property
    def ended(self) -> bool:
        return self.status == "ended"

    @property
    def listen_available(self) -> bool:
        return self.monitor is not None and self.monitor.listen_url is not None

    @property
    def control_available(self) -> bool:
        return self.monitor is not None and self.monitor.control_url is not None

    def raw(self) -> dict[str, Any]:
        """A copy of the whole object Vapi sent (artifact, analysis, …) with every monitor URL removed."""
        return copy.deepcopy(self._raw)

    def public_dict(self) -> dict[str, Any]:
        """JSON-safe summary for agents and logs: no monitor URLs, only whether they exist."""
        data = self.model_dump(mode="json", exclude={"monitor"})
        data["listen_available"] = self.listen_available
        data["control_available"] = self.control_available
        return data
