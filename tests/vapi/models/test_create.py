"""The POST /call body: camelCase, no nulls, one thing that runs the call, monitorPlan where Vapi reads it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vapi_mcp.vapi import (
    AssistantOverrides,
    CreateCallRequest,
    Customer,
    MonitorPlan,
    to_wire,
)


def test_create_call_request_by_alias_without_nulls() -> None:
    # the supervisor passes unused choices as None and overrides as a camelCase dict
    request = CreateCallRequest(
        assistant_id="asst-1",
        assistant=None,
        squad_id=None,
        phone_number_id="pn-1",
        customer=Customer(number="+14155550123", name=None),
        assistant_overrides={
            "monitorPlan": {
                "listenEnabled": True,
                "controlEnabled": True,
                "listenAuthenticationEnabled": False,
                "controlAuthenticationEnabled": False,
            },
            "variableValues": {"first_name": "Sarah"},
            "firstMessage": "Hi Sarah",
        },
    )
    assert to_wire(request) == {
        "assistantId": "asst-1",
        "phoneNumberId": "pn-1",
        "customer": {"number": "+14155550123"},
        "assistantOverrides": {
            "monitorPlan": {
                "listenEnabled": True,
                "controlEnabled": True,
                "listenAuthenticationEnabled": False,
                "controlAuthenticationEnabled": False,
            },
            "variableValues": {"first_name": "Sarah"},
            "firstMessage": "Hi Sarah",
        },
    }


def test_create_call_request_models_and_defaults() -> None:
    request = CreateCallRequest(
        assistant={"name": "transient", "firstMessage": "Hello"},
        customer=Customer(sip_uri="sip:bob@example.com", name="Bob"),
        assistant_overrides=AssistantOverrides(monitor_plan=MonitorPlan()),
    )
    # MonitorPlan's two switches go out even at their defaults: older orgs defaulted them to off
    assert to_wire(request) == {
        "assistant": {"name": "transient", "firstMessage": "Hello"},
        "customer": {"sipUri": "sip:bob@example.com", "name": "Bob"},
        "assistantOverrides": {"monitorPlan": {"listenEnabled": True, "controlEnabled": True}},
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"customer": {"number": "+1415"}},  # no assistant at all
        {"assistant_id": "a", "squad_id": "s", "customer": {"number": "+1415"}},
        {"assistant_id": "a", "customer": {"name": "nobody"}},  # unreachable customer
        {"assistant_id": "a", "customer": {"number": "+1415"}, "assistant_overrides": {"first_message": "x"}},
        {"assistant_id": "a", "customer": {"number": "+1415"}, "metadata": {"x": 1}},
    ],
)
def test_create_call_request_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CreateCallRequest(**kwargs)


MONITOR = MonitorPlan(listen_enabled=True, control_enabled=True)


def test_a_squad_call_carries_monitor_plan_in_squad_overrides() -> None:
    request = CreateCallRequest(
        squad_id="squad-1",
        customer=Customer(number="+14155550123"),
        squad_overrides=AssistantOverrides(monitor_plan=MONITOR, variable_values={"name": "Ada"}),
    )
    assert to_wire(request) == {
        "squadId": "squad-1",
        "customer": {"number": "+14155550123"},
        "squadOverrides": {
            "monitorPlan": {"listenEnabled": True, "controlEnabled": True},
            "variableValues": {"name": "Ada"},
        },
    }


def test_overrides_for_the_other_kind_are_refused_not_silently_ignored() -> None:
    customer = Customer(number="+14155550123")
    overrides = AssistantOverrides(monitor_plan=MONITOR)
    with pytest.raises(ValidationError, match="a squad call takes squad_overrides"):
        CreateCallRequest(squad_id="squad-1", customer=customer, assistant_overrides=overrides)
    with pytest.raises(ValidationError, match="squad_overrides apply to a squad call"):
        CreateCallRequest(assistant_id="asst-1", customer=customer, squad_overrides=overrides)
    with pytest.raises(ValidationError, match="camelCase"):
        CreateCallRequest(squad_id="squad-1", customer=customer, squad_overrides={"monitor_plan_x": 1})
