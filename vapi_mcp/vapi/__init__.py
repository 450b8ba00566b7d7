"""The Vapi wire: pydantic models of what goes over it, and the client that sends it.

Nothing here imports ``mcp``; the supervisor and the emulator's tests use it directly.
"""

from __future__ import annotations

from vapi_mcp.vapi.client import VapiClient
from vapi_mcp.vapi.models import (
    AddMessage,
    AppendContext,
    AssistantOverrides,
    Call,
    CallCustomer,
    ChatMessage,
    ContextEngineeringPlan,
    Control,
    ControlMessage,
    CreateCallRequest,
    Customer,
    EndCall,
    Handoff,
    HandoffAssistantDestination,
    HandoffSquadDestination,
    Monitor,
    MonitorPlan,
    Say,
    SendTransportMessage,
    SipTransportMessage,
    Transfer,
    TransferNumberDestination,
    TransferPlan,
    TransferSipDestination,
    TwilioTransportMessage,
    parse_control_message,
    to_wire,
)

__all__ = [
    "AddMessage",
    "AppendContext",
    "AssistantOverrides",
    "Call",
    "CallCustomer",
    "ChatMessage",
    "ContextEngineeringPlan",
    "Control",
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
    "TransferNumberDestination",
    "TransferPlan",
    "TransferSipDestination",
    "TwilioTransportMessage",
    "VapiClient",
    "parse_control_message",
    "to_wire",
]
