"""What the emulator test modules share: the keys and the options builder."""

from __future__ import annotations

from typing import Any

from vapi_mcp.emulator import EmulatorOptions

KEY = "emu-private-key-abcdef"
PUBLIC = "emu-public-key-123456"


def emulator_options(default_scenario: str, **overrides: Any) -> EmulatorOptions:
    """Options for a fast (time-scaled) emulator that accepts KEY and knows PUBLIC; overrides win."""
    values: dict[str, Any] = {"api_key": KEY, "public_key": PUBLIC, "scenario": default_scenario, "time_scale": 20.0}
    values.update(overrides)
    return EmulatorOptions(**values)
