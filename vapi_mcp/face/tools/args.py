"""Argument types and annotations shared by the tools: the schema an agent sees, checked before we run."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.types import ToolAnnotations
from pydantic import Field, StringConstraints

from vapi_mcp.ids import ID_MAX_LENGTH, ID_PATTERN
from vapi_mcp.policy import E164_PATTERN

__all__ = [
    "DESTRUCTIVE",
    "DESTRUCTIVE_IDEMPOTENT",
    "E164",
    "LOCAL_READ",
    "LOCAL_WRITE",
    "READ",
    "RULES_HELP",
    "WRITE",
    "WRITE_IDEMPOTENT",
    "AlertRulesArg",
    "CallId",
    "LongText",
    "OptionalShort",
    "ResourceId",
    "Text",
]

CallId = Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
E164 = Annotated[str, Field(pattern=E164_PATTERN, description="Phone number in E.164 form, e.g. +14155550123.")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]
OptionalShort = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
RULES_HELP = (
    "By rule name: an object of parameters to change, true, or false (off). Rules: dead_air, talk_over, "
    "monologue, keywords, call_duration, audio_quality, listen_lost, ended_abnormally."
)
AlertRulesArg = Annotated[dict[str, Any] | None, Field(description="This call's alert rules, as in set_alert_rules.")]
ResourceId = Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
LOCAL_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
LOCAL_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
WRITE_IDEMPOTENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
DESTRUCTIVE_IDEMPOTENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)
