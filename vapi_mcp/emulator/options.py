"""How an emulator behaves: :class:`EmulatorOptions`, scripted :class:`FaultRule` s, and the scenario they pick.

Options are plain frozen pydantic data, so a test, ``--sandbox``, the demo and the ``vapi-mcp emulator`` command
all describe an emulator the same way, and a bad value fails when the options are built, not mid-call.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vapi_mcp.emulator.scenario import Scenario, get_scenario, long_call

__all__ = ["SCENARIO_KNOBS", "EmulatorOptions", "FaultRoute", "FaultRule", "resolve_scenario"]

FaultRoute = Literal["create", "get", "list", "control"]
# Options that, when set, override the scenario's own knob of the same name for every call.
SCENARIO_KNOBS = ("format_frame", "odd_sizes", "drop_socket_at_s", "end_when_done")


class EmulatorOptions(BaseModel):
    """How the emulator behaves. ``api_key`` is the only private key it accepts (never shown in repr)."""

    model_config = ConfigDict(frozen=True)

    api_key: str = Field(min_length=1, repr=False)
    public_key: str | None = Field(default=None, repr=False)
    scenario: str = "support-call"
    time_scale: float = Field(default=1.0, gt=0)
    ring_s: float = Field(default=0.3, ge=0)
    answer_s: float = Field(default=0.5, ge=0)
    control_not_found_status: int = Field(default=404, ge=400, le=599)
    end_call_reason: str = "manually-canceled"
    monitor_host: str | None = None
    # The monitorPlan switches of saved assistants/squads, which the emulator cannot see (see emulator.monitor).
    saved_monitoring: bool = True
    org_id: str = "8c4c2f2e-0000-4000-8000-00000000e0e0"
    # When set, these override the scenario's own knob for every call (SCENARIO_KNOBS).
    format_frame: bool | None = None
    odd_sizes: bool | None = None
    drop_socket_at_s: float | None = None
    end_when_done: bool | None = None
    # Server messages (emulator.webhooks): where to post them when the assistant names no server.url, with
    # which credential (X-Vapi-Secret, or HMAC), which types by default, and how a misbehaving sender behaves.
    server_url: str | None = None
    server_secret: str | None = Field(default=None, repr=False)
    server_hmac_secret: str | None = Field(default=None, repr=False)
    server_messages: tuple[str, ...] | None = None
    webhook_timeout_s: float = Field(default=20.0, gt=0)
    webhook_duplicates: bool = False
    webhook_out_of_order: bool = False
    webhook_bad_signature: bool = False


class FaultRule(BaseModel):
    """A scripted fault for the REST or control surface; consumed in order, ``times`` requests each."""

    route: FaultRoute
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    delay_s: float = Field(default=0.0, ge=0)
    times: int = Field(default=1, ge=1)
    call_id: str | None = None


def resolve_scenario(name: str, options: EmulatorOptions) -> Scenario:
    """Scenario by name (``long:<seconds>`` builds a long call), with the options' overrides applied."""
    if name.startswith("long:"):
        try:
            seconds = float(name.removeprefix("long:"))
        except ValueError:
            raise ValueError(f"bad long-call duration in {name!r}") from None
        scenario = long_call(seconds)
    else:
        scenario = get_scenario(name)
    update = {knob: getattr(options, knob) for knob in SCENARIO_KNOBS if getattr(options, knob) is not None}
    return scenario.model_copy(update=update) if update else scenario
