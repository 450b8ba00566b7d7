"""Alert rules as configuration: each rule's parameters, their defaults, and how a partial change merges.

A configuration is a JSON object keyed by rule name (DESIGN §11). A rule's value is an object of the
parameters to change (the others keep their current value), ``true`` (on, current or default parameters) or
``false`` (off). Anything else, an unknown rule or parameter, or a value out of range, is an
:class:`~vapi_mcp.errors.InvalidInput` that names it and lists what is valid, so an agent can correct itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vapi_mcp.errors import InvalidInput

__all__ = [
    "NORMAL_ENDINGS",
    "RULES",
    "AlertRules",
    "AudioQuality",
    "CallDuration",
    "DeadAir",
    "EndedAbnormally",
    "Keywords",
    "ListenLost",
    "Monologue",
    "RuleParams",
    "Severity",
    "TalkOver",
    "default_rules",
    "describe_rules",
    "merge_rules",
]

Severity = Literal["info", "warning", "critical"]


class RuleParams(BaseModel):
    """Parameters every rule has: the severity of its alerts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    severity: Severity = "warning"


class DeadAir(RuleParams):
    after_s: float = Field(default=4.0, gt=0, le=3600)


class TalkOver(RuleParams):
    overlap_s: float = Field(default=1.5, gt=0, le=600)
    count: int = Field(default=3, ge=1, le=1000)
    within_s: float = Field(default=30.0, gt=0, le=3600)


class Monologue(RuleParams):
    severity: Severity = "info"
    party: Literal["customer", "assistant"] = "assistant"
    after_s: float = Field(default=30.0, gt=0, le=3600)


class Keywords(RuleParams):
    phrases: tuple[str, ...] = Field(default=(), max_length=200)
    roles: tuple[Literal["customer", "assistant"], ...] = Field(default=("customer",), min_length=1)


class CallDuration(RuleParams):
    severity: Severity = "info"
    after_s: float = Field(default=900.0, gt=0, le=86400)


class AudioQuality(RuleParams):
    clipping_ratio: float = Field(default=0.01, gt=0, le=1)
    min_dbfs: float = Field(default=-50.0, ge=-120, le=0)
    window_s: float = Field(default=10.0, ge=1, le=600)


class ListenLost(RuleParams):
    severity: Severity = "critical"
    after_s: float = Field(default=10.0, gt=0, le=3600)


class EndedAbnormally(RuleParams):
    severity: Severity = "critical"


NORMAL_ENDINGS = frozenset(
    {
        "customer-ended-call",
        "customer-ended-call-during-transfer",
        "assistant-ended-call",
        "assistant-ended-call-after-message-spoken",
        "assistant-ended-call-with-hangup-task",
        "assistant-said-end-call-phrase",
        "assistant-forwarded-call",
        "manually-canceled",
        "customer-busy",
        "customer-did-not-answer",
        "silence-timed-out",
        "exceeded-max-duration",
        "voicemail",
        "call-deleted",
        "scheduled-call-deleted",
    }
)
"""endedReasons of calls that ended the way calls end: hang-ups, transfers, voicemail, no answer, timeouts."""


RULES: dict[str, type[RuleParams]] = {
    "dead_air": DeadAir,
    "talk_over": TalkOver,
    "monologue": Monologue,
    "keywords": Keywords,
    "call_duration": CallDuration,
    "audio_quality": AudioQuality,
    "listen_lost": ListenLost,
    "ended_abnormally": EndedAbnormally,
}
"""Every rule by name, with its parameter model (the defaults are the model's)."""

AlertRules = Mapping[str, RuleParams | None]
"""A full configuration: every rule name, with its parameters, or None when the rule is off."""


def default_rules() -> dict[str, RuleParams | None]:
    """The built-in defaults: every rule on with its default parameters."""
    return {name: model() for name, model in RULES.items()}


def _params_text(model: type[RuleParams]) -> str:
    return ", ".join(model.model_fields)


def _problem(name: str, model: type[RuleParams], exc: ValidationError) -> InvalidInput:
    problems: list[str] = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "value"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown parameter {where!r}")
        else:
            problems.append(f"{where}: {error['msg']}")
    return InvalidInput(
        f"alert rule {name!r}: {'; '.join(problems)}; its parameters are {_params_text(model)}",
        hint="Correct the rule's parameters and try again.",
    )


def merge_rules(base: AlertRules, change: Mapping[str, Any] | None) -> dict[str, RuleParams | None]:
    """``base`` with ``change`` applied (see the module docstring); raises :class:`InvalidInput` on a bad rule."""
    merged = dict(base)
    if not change:
        return merged
    if not isinstance(change, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]  # JSON from outside
        raise InvalidInput("alert rules must be a JSON object keyed by rule name")
    for name, value in change.items():
        model = RULES.get(name)
        if model is None:
            raise InvalidInput(
                f"unknown alert rule {name!r}; the rules are {', '.join(RULES)}",
                hint="Use one of those names (false turns a rule off).",
            )
        if value is False or value is None:
            merged[name] = None
            continue
        current = merged.get(name) or model()
        if value is True:
            merged[name] = current
            continue
        if not isinstance(value, Mapping):
            raise InvalidInput(
                f"alert rule {name!r} must be an object of parameters, true or false; "
                f"its parameters are {_params_text(model)}"
            )
        try:
            merged[name] = model.model_validate({**current.model_dump(), **cast("Mapping[str, Any]", value)})
        except ValidationError as exc:
            raise _problem(name, model, exc) from None
    return merged


def describe_rules(rules: AlertRules) -> dict[str, dict[str, Any] | Literal[False]]:
    """The configuration as JSON: each rule's parameters, or false when off."""
    return {name: (params.model_dump(mode="json") if params is not None else False) for name, params in rules.items()}
