"""Which ``monitorPlan`` applies to a call, as Vapi resolves it: the monitor URLs exist only where it says so.

``monitorPlan`` is not a call field (reference §3.2). Vapi reads it from what runs the call:

* an assistant (``assistantId`` / ``assistant``): ``assistantOverrides.monitorPlan``, then the transient
  assistant's own ``monitorPlan``;
* a squad (``squadId`` / ``squad``): ``squadOverrides.monitorPlan`` (applied to every member; Vapi's
  ``CreateCallDto``), then a transient squad's ``membersOverrides.monitorPlan``. ``assistantOverrides`` apply to
  an assistant, so on a squad call they are ignored, monitorPlan included;
* a workflow: ``workflowOverrides`` carry no monitorPlan, so only the default applies.

When no plan sets a switch, the default applies: ``listenEnabled`` / ``controlEnabled`` are on in Vapi's
current schema for what the request itself describes (a transient assistant or squad). A *saved* assistant,
squad or workflow carries whatever plan it was saved with, which the emulator cannot see: it takes
``EmulatorOptions.saved_monitoring`` (on by default, as the current schema; off models a saved assistant with
monitoring off, as older dashboards saved them, where only a monitorPlan the call itself sends in the right
place turns monitoring on).
"""

from __future__ import annotations

from typing import Any, Literal

from vapi_mcp.emulator.wire import as_object

__all__ = ["MonitorSwitch", "monitor_switch", "runs_a_squad"]

MonitorSwitch = Literal[
    "listenEnabled", "controlEnabled", "listenAuthenticationEnabled", "controlAuthenticationEnabled"
]
_ENABLED_BY_DEFAULT = frozenset({"listenEnabled", "controlEnabled"})


def runs_a_squad(request: dict[str, Any]) -> bool:
    """Whether the call runs a squad (``squadId`` or a transient ``squad``)."""
    return "squadId" in request or "squad" in request


def _plans(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The monitorPlans Vapi reads for this call, most specific first."""
    if runs_a_squad(request):
        squad = as_object(request.get("squad")) or {}
        holders = (as_object(request.get("squadOverrides")), as_object(squad.get("membersOverrides")))
    elif "workflowId" in request or "workflow" in request:
        holders = ()
    else:
        holders = (as_object(request.get("assistantOverrides")), as_object(request.get("assistant")))
    plans = (as_object(holder.get("monitorPlan")) for holder in holders if holder is not None)
    return [plan for plan in plans if plan is not None]


def _transient(request: dict[str, Any]) -> bool:
    """Whether the request itself describes what runs the call (so the schema's defaults are all there is)."""
    if runs_a_squad(request):
        return "squadId" not in request
    return "assistant" in request and "assistantId" not in request


def monitor_switch(request: dict[str, Any], name: MonitorSwitch, *, saved_monitoring: bool) -> bool:
    """The value of one monitorPlan switch for a call created with ``request`` (the fields Vapi accepted)."""
    for plan in _plans(request):
        flag = plan.get(name)
        if isinstance(flag, bool):
            return flag
    if name not in _ENABLED_BY_DEFAULT:
        return False  # authentication is off unless asked for
    return True if _transient(request) else saved_monitoring
