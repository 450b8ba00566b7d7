"""Where a transfer or a handoff goes, and how: destinations, ``TransferPlan`` and ``ContextEngineeringPlan``.

Field names and enums follow Vapi's schema (reference §1.3). Mode names are the current enum; the older ones
seen in forum threads (``warm-transfer-with-message``) fail here rather than turn into blind transfers there.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from vapi_mcp.vapi.models.base import WireModel

__all__ = [
    "WARM_MESSAGE_MODES",
    "ContextEngineeringPlan",
    "ContextType",
    "HandoffAssistantDestination",
    "HandoffSquadDestination",
    "TransferMode",
    "TransferNumberDestination",
    "TransferPlan",
    "TransferSipDestination",
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


class ContextEngineeringPlan(WireModel):
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


# Warm modes that speak ``message`` to the destination party; ``warm-transfer-twiml`` runs ``twiml`` there instead.
WARM_MESSAGE_MODES: frozenset[str] = frozenset(
    {"warm-transfer-say-message", "warm-transfer-wait-for-operator-to-speak-first-and-then-say-message"}
)


class TransferPlan(WireModel):
    """How Vapi performs a transfer (reference §1.3). Mode names are the current enum; old ones fail here.

    ``message`` is what the *destination* hears before the customer is connected (the ``…say-message`` modes;
    at most 1,000 characters) and ``twiml`` the TwiML run on the destination leg (``warm-transfer-twiml``; at
    most 4,096). Vapi accepts those modes without them and then transfers with no introduction, a blind
    transfer in all but name, so a plan without what its mode needs is refused here.
    """

    mode: TransferMode
    message: str | None = Field(default=None, max_length=1000)
    timeout: float | None = Field(default=None, gt=0)
    sip_verb: Literal["refer", "bye", "dial"] | None = None
    dial_timeout: float | None = Field(default=None, gt=0)
    hold_audio_url: str | None = None
    transfer_complete_audio_url: str | None = None
    context_engineering_plan: ContextEngineeringPlan | None = None
    twiml: str | None = Field(default=None, max_length=4096)
    summary_plan: dict[str, Any] | None = None
    sip_headers_in_refer_to_enabled: bool | None = None
    fallback_plan: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _transfer_context_types(self) -> TransferPlan:
        plan = self.context_engineering_plan
        if plan is not None and plan.type not in ("all", "none", "lastNMessages"):
            raise ValueError("a transferPlan contextEngineeringPlan must be 'all', 'none' or 'lastNMessages'")
        if self.mode in WARM_MESSAGE_MODES and not self.message:
            raise ValueError(f"transfer mode {self.mode!r} needs a message for the destination (transferPlan.message)")
        if self.mode == "warm-transfer-twiml" and not self.twiml:
            raise ValueError("transfer mode 'warm-transfer-twiml' needs the TwiML to run (transferPlan.twiml)")
        return self


class TransferNumberDestination(WireModel):
    type: Literal["number"] = "number"
    number: str = Field(min_length=1)
    extension: str | None = None
    caller_id: str | None = None
    # "" is meaningful: transfer silently instead of saying "Transferring the call now".
    message: str | None = None
    transfer_plan: TransferPlan | None = None
    description: str | None = None
    number_e164_check_enabled: bool | None = None


class TransferSipDestination(WireModel):
    type: Literal["sip"] = "sip"
    sip_uri: str = Field(min_length=1)
    sip_headers: dict[str, str] | None = None
    caller_id: str | None = None
    message: str | None = None
    transfer_plan: TransferPlan | None = None
    description: str | None = None


class HandoffAssistantDestination(WireModel):
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


class HandoffSquadDestination(WireModel):
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
