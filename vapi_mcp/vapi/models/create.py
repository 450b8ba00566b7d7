"""The body of ``POST /call``: who runs the call, who is called, and the ``monitorPlan`` that makes it supervisable.

``monitorPlan`` is not a call field (reference §3.2): Vapi reads it from the assistant, and per call from
``assistantOverrides`` when the call runs an assistant, or ``squadOverrides`` (applied to every member) when it
runs a squad. Overrides given for the other kind are ignored by Vapi without a word.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, model_validator

from vapi_mcp.vapi.models.base import WireModel

__all__ = ["AssistantOverrides", "CreateCallRequest", "Customer", "MonitorPlan"]


class MonitorPlan(WireModel):
    """``assistantOverrides.monitorPlan``. Both switches are always sent: older orgs defaulted them to off."""

    _always: ClassVar[tuple[str, ...]] = ("listen_enabled", "control_enabled")
    listen_enabled: bool = True
    control_enabled: bool = True
    listen_authentication_enabled: bool | None = None
    control_authentication_enabled: bool | None = None


class AssistantOverrides(WireModel):
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


class Customer(WireModel):
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


class CreateCallRequest(WireModel):
    """Body of ``POST /call``: exactly one of ``assistant_id``, ``assistant`` (transient) or ``squad_id``.

    Overrides go with what runs the call, as Vapi's ``CreateCallDto`` has them: ``assistant_overrides`` for an
    assistant, ``squad_overrides`` (an ``AssistantOverrides`` applied to every member) for a squad. Vapi ignores
    the other kind without a word, so a ``monitorPlan`` there would leave a squad call with no monitor URLs:
    the mismatch is refused here.
    """

    _always: ClassVar[tuple[str, ...]] = ()
    assistant_id: str | None = None
    assistant: dict[str, Any] | None = None
    assistant_overrides: AssistantOverrides | None = None
    squad_id: str | None = None
    squad_overrides: AssistantOverrides | None = None
    phone_number_id: str | None = None
    customer: Customer
    name: str | None = None

    @model_validator(mode="after")
    def _one_assistant(self) -> CreateCallRequest:
        given = [n for n in ("assistant_id", "assistant", "squad_id") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of assistant_id, assistant or squad_id (got {given or 'none'})")
        if self.squad_id is not None and self.assistant_overrides is not None:
            raise ValueError(
                "a squad call takes squad_overrides: Vapi applies assistant_overrides to an assistant only"
            )
        if self.squad_id is None and self.squad_overrides is not None:
            raise ValueError("squad_overrides apply to a squad call (squad_id) only")
        return self
