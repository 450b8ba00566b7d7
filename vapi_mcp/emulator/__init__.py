"""A faithful local Vapi for tests, ``--sandbox`` and the demo (DESIGN §8, reference/vapi-api.md §7).

::

    async with running_emulator(EmulatorOptions(api_key="sk-test", time_scale=10)) as emu:
        ...  # point a Vapi client at emu.base_url; inspect emu.view(call_id), emu.control_log(call_id)

Switching from the emulator to a real key must not change what a client sees: REST with Bearer auth and
Vapi's error bodies, the status progression, a strictly validating control endpoint and a real-time stereo
listen stream.
"""

from __future__ import annotations

from vapi_mcp.emulator.app import Emulator
from vapi_mcp.emulator.options import EmulatorOptions, FaultRule
from vapi_mcp.emulator.runner import running_emulator, serve_forever
from vapi_mcp.emulator.state import ControlRecord, RequestRecord

__all__ = [
    "ControlRecord",
    "Emulator",
    "EmulatorOptions",
    "FaultRule",
    "RequestRecord",
    "running_emulator",
    "serve_forever",
]
