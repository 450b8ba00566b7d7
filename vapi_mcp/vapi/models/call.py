"""What Vapi returns: the Call object, read tolerantly, with its monitor capabilities sealed.

A ``Call`` carries dozens of fields we do not need and ~600 possible ``endedReason`` values, so unknown fields
and values pass. Its ``monitor`` URLs are bearer capabilities (whoever has one can listen to or steer the call):
they are ``SecretStr``, so no repr, log line or ``model_dump`` shows them, and :meth:`Call.public_dict` leaves
them out entirely.
"""

from __future__ import annotations

import copy
from typing import Any, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = ["Call", "CallCustomer", "Monitor"]

_INCOMING = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
# Keys whose values are capabilities wherever they appear in a Call (webCall/websocket calls too).
_CAPABILITY_KEYS = frozenset({"listenUrl", "controlUrl", "websocketCallUrl", "webCallUrl"})


def _scrub(value: object) -> object:
    """A copy of parsed JSON without any monitor capability in it, at any depth."""
    if isinstance(value, dict):
        items = cast(dict[str, object], value).items()
        return {k: _scrub(v) for k, v in items if k not in _CAPABILITY_KEYS and k != "monitor"}
    if isinstance(value, list):
        return [_scrub(v) for v in cast(list[object], value)]
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

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict[str, Any])

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: ModelWrapValidatorHandler[Call]) -> Call:
        call = handler(data)
        scrubbed = _scrub(data)
        if isinstance(scrubbed, dict):
            call._raw = cast(dict[str, Any], scrubbed)
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
