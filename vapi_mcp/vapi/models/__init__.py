"""Pydantic models of the Vapi wire: control messages, call creation, and the Call object.

Two rules shape them: what we send is strict and camelCase (:mod:`~vapi_mcp.vapi.models.base`), and what we
receive is tolerant with its capabilities sealed (:mod:`~vapi_mcp.vapi.models.call`).
"""

from __future__ import annotations

from vapi_mcp.vapi.models.base import to_wire
from vapi_mcp.vapi.models.call import Call, CallCustomer, Monitor
from vapi_mcp.vapi.models.control import (
    AddMessage,
    AppendContext,
    ChatMessage,
    Control,
    ControlAction,
    ControlMessage,
    EndCall,
    Handoff,
    Say,
    SendTransportMessage,
    SipTransportMessage,
    Transfer,
    TwilioTransportMessage,
    parse_control_message,
)
from vapi_mcp.vapi.models.create import AssistantOverrides, CreateCallRequest, Customer, MonitorPlan
from vapi_mcp.vapi.models.plans import (
    ContextEngineeringPlan,
    ContextType,
    HandoffAssistantDestination,
    HandoffSquadDestination,
    TransferMode,
    TransferNumberDestination,
    TransferPlan,
    TransferSipDestination,
)

__all__ = [
    "AddMessage",
    "AppendContext",
    "AssistantOverrides",
    "Call",
    "CallCustomer",
    "ChatMessage",
    "ContextEngineeringPlan",
    "ContextType",
    "Control",
    "ControlAction",
    "ControlMessage",
    "CreateCallRequest",
    "Customer",
    "EndCall",
    "Handoff",
    "HandoffAssistantDestination",
    "HandoffSquadDestination",
    "Monitor",
    "MonitorPlan",
    "Say",
    "SendTransportMessage",
    "SipTransportMessage",
    "Transfer",
    "TransferMode",
    "TransferNumberDestination",
    "TransferPlan",
    "TransferSipDestination",
    "TwilioTransportMessage",
    "parse_control_message",
    "to_wire",
]
