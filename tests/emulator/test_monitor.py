"""Where Vapi reads monitorPlan: assistantOverrides for an assistant, squadOverrides for a squad, pure."""

from __future__ import annotations

from typing import Any

import pytest

from vapi_mcp.emulator.monitor import MonitorSwitch, monitor_switch

ON = {"monitorPlan": {"listenEnabled": True, "controlEnabled": True}}
OFF = {"monitorPlan": {"listenEnabled": False, "controlEnabled": False}}


def switches(request: dict[str, Any], *, saved_monitoring: bool = True) -> tuple[bool, bool]:
    names: tuple[MonitorSwitch, MonitorSwitch] = ("listenEnabled", "controlEnabled")
    listen, control = (monitor_switch(request, n, saved_monitoring=saved_monitoring) for n in names)
    return listen, control


@pytest.mark.parametrize("saved_monitoring", [True, False])
def test_squad_calls_read_squad_overrides_and_ignore_assistant_overrides(saved_monitoring: bool) -> None:
    assert switches({"squadId": "s", "squadOverrides": ON}, saved_monitoring=saved_monitoring) == (True, True)
    assert switches({"squadId": "s", "squadOverrides": OFF}, saved_monitoring=saved_monitoring) == (False, False)
    # assistantOverrides apply to an assistant: on a squad call they change nothing, whatever they say
    for overrides in (ON, OFF):
        request = {"squadId": "s", "assistantOverrides": overrides}
        default = (saved_monitoring, saved_monitoring)
        assert switches(request, saved_monitoring=saved_monitoring) == default


def test_a_squad_call_with_monitor_plan_only_in_assistant_overrides_gets_no_monitor_where_saved_is_off() -> None:
    assert switches({"squadId": "s", "assistantOverrides": ON}, saved_monitoring=False) == (False, False)
    assert switches({"squadId": "s", "squadOverrides": ON}, saved_monitoring=False) == (True, True)


def test_transient_squads_use_members_overrides_and_the_schema_default() -> None:
    assert switches({"squad": {"members": []}}, saved_monitoring=False) == (True, True)
    assert switches({"squad": {"membersOverrides": OFF}}) == (False, False)
    assert switches({"squad": {"membersOverrides": OFF}, "squadOverrides": ON}) == (True, True)


def test_assistant_calls_overrides_then_transient_assistant_then_default() -> None:
    assert switches({"assistantId": "a"}) == (True, True)
    assert switches({"assistantId": "a"}, saved_monitoring=False) == (False, False)
    assert switches({"assistantId": "a", "assistantOverrides": ON}, saved_monitoring=False) == (True, True)
    assert switches({"assistant": {}}, saved_monitoring=False) == (True, True)  # the request is all there is
    assert switches({"assistant": OFF, "assistantOverrides": ON}) == (True, True)
    assert switches({"assistant": OFF}) == (False, False)
    # squadOverrides do not apply to an assistant
    assert switches({"assistantId": "a", "squadOverrides": ON}, saved_monitoring=False) == (False, False)


def test_authentication_is_off_unless_asked_for_and_partial_plans_fall_through() -> None:
    request = {"assistantId": "a", "assistantOverrides": {"monitorPlan": {"listenAuthenticationEnabled": True}}}
    assert monitor_switch(request, "listenAuthenticationEnabled", saved_monitoring=True) is True
    assert monitor_switch(request, "controlAuthenticationEnabled", saved_monitoring=True) is False
    assert switches(request) == (True, True)
    assert switches({"workflowId": "w", "assistantOverrides": OFF}) == (True, True)
