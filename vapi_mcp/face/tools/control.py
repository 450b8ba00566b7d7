"""Tools that change a call: create, say, add a message, mute/unmute, end, transfer, hand off.

Not registered at all in read-only mode. The destructive ones act on a real person's call.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Resolve
from pydantic import Field

from vapi_mcp.face.confirm import Confirmation, confirm_end, confirm_handoff, confirm_transfer, confirmed
from vapi_mcp.face.errors import tool
from vapi_mcp.face.state import AppState
from vapi_mcp.face.tools.args import (
    DESTRUCTIVE,
    DESTRUCTIVE_IDEMPOTENT,
    E164,
    WRITE,
    WRITE_IDEMPOTENT,
    AlertRulesArg,
    CallId,
    LongText,
    OptionalShort,
    ResourceId,
    Text,
)
from vapi_mcp.supervisor import ContextMode, ControlAction, TransferMode
from vapi_mcp.supervisor.views import CallInfo, ControlResult

__all__ = ["register_control_tools"]


def register_control_tools(server: MCPServer[Any], state: AppState) -> None:
    @tool(server, title="Create an outbound call", annotations=WRITE)
    async def create_call(
        customer_number: E164,
        assistant_id: Annotated[ResourceId | None, Field(description="Saved Vapi assistant to run.")] = None,
        assistant: Annotated[
            dict[str, Any] | None, Field(description="Transient assistant object (Vapi schema).")
        ] = None,
        phone_number_id: Annotated[ResourceId | None, Field(description="Vapi phone number to call from.")] = None,
        squad_id: Annotated[ResourceId | None, Field(description="Vapi squad to run instead of an assistant.")] = None,
        customer_name: OptionalShort | None = None,
        listen: bool = True,
        alert_rules: AlertRulesArg = None,
    ) -> CallInfo:
        """Dial a real person with live control on and supervise the call. Give one of assistant_id,
        assistant, squad_id. Returns its state, like get_call.
        """
        return await state.require().create_call(
            customer_number=customer_number,
            assistant_id=assistant_id,
            assistant=assistant,
            squad_id=squad_id,
            phone_number_id=phone_number_id,
            customer_name=customer_name,
            listen=listen,
            alert_rules=alert_rules,
        )

    @tool(server, title="Say something on the call", annotations=WRITE)
    async def say(
        call_id: CallId,
        content: Text,
        end_call_after_spoken: bool = False,
        interrupt_assistant: Annotated[
            bool, Field(description="Cut off what the assistant is saying now instead of waiting.")
        ] = False,
    ) -> ControlResult:
        """Make the assistant say these exact words now."""
        return await state.require().say(
            call_id, content, end_call_after_spoken=end_call_after_spoken, interrupt_assistant=interrupt_assistant
        )

    @tool(server, title="Add a message to the conversation", annotations=WRITE)
    async def add_message(
        call_id: CallId,
        content: LongText,
        role: Literal["system", "user", "assistant"] = "system",
        trigger_response: Annotated[
            bool, Field(description="Let the assistant respond now; false inserts the message silently.")
        ] = True,
    ) -> ControlResult:
        """Whisper guidance to the assistant (role system): the caller does not hear it as such."""
        return await state.require().add_message(call_id, content, role=role, trigger_response=trigger_response)

    @tool(server, title="Mute, unmute or replay the greeting", annotations=WRITE_IDEMPOTENT)
    async def control_call(call_id: CallId, action: ControlAction) -> ControlResult:
        """Mute or unmute the assistant or the customer, or replay the first message."""
        return await state.require().control(call_id, action)

    @tool(server, title="End the call", annotations=DESTRUCTIVE_IDEMPOTENT)
    async def end_call(call_id: CallId, confirmation: Annotated[Confirmation, Resolve(confirm_end)]) -> ControlResult:
        """Hang up for both parties. Cannot be undone."""
        confirmed(confirmation, "end_call")
        return await state.require().end_call(call_id)

    @tool(server, title="Transfer the call", annotations=DESTRUCTIVE)
    async def transfer_call(
        call_id: CallId,
        destination: Annotated[
            str,
            Field(min_length=1, max_length=256, description="E.164 number or sip: URI."),
        ],
        message: Annotated[OptionalShort | None, Field(description="Spoken to the caller before transferring.")] = None,
        extension: Annotated[str | None, Field(pattern=r"^[0-9*#,wW]{1,20}$", description="DTMF extension.")] = None,
        caller_id: Annotated[E164 | None, Field(description="Caller id shown to the destination.")] = None,
        mode: Annotated[TransferMode | None, Field(description="transferPlan mode (default blind).")] = None,
        operator_message: Annotated[
            OptionalShort | None,
            Field(description="…say-message modes: said to whoever answers first."),
        ] = None,
        twiml: Annotated[
            str | None, Field(min_length=1, max_length=4000, description="For warm-transfer-twiml.")
        ] = None,
        confirmation: Annotated[Confirmation, Resolve(confirm_transfer)] = None,  # type: ignore[assignment]
    ) -> ControlResult:
        """Forward the caller to a number or SIP URI; the assistant leaves. Cannot be undone."""
        confirmed(confirmation, "transfer_call")
        return await state.require().transfer(
            call_id,
            destination,
            message=message,
            extension=extension,
            caller_id=caller_id,
            mode=mode,
            operator_message=operator_message,
            twiml=twiml,
        )

    @tool(server, title="Hand off to another assistant", annotations=DESTRUCTIVE)
    async def handoff_call(
        call_id: CallId,
        assistant_id: Annotated[ResourceId | None, Field(description="Saved assistant to take over.")] = None,
        assistant: Annotated[dict[str, Any] | None, Field(description="Transient assistant object.")] = None,
        context: Annotated[ContextMode, Field(description="How much conversation the new assistant sees.")] = "all",
        max_messages: Annotated[int | None, Field(ge=1, le=500, description="With context=lastNMessages.")] = None,
        message: Annotated[OptionalShort | None, Field(description="Spoken to the caller during the handoff.")] = None,
        confirmation: Annotated[Confirmation, Resolve(confirm_handoff)] = None,  # type: ignore[assignment]
    ) -> ControlResult:
        """Another assistant takes over the live call (give assistant_id or assistant)."""
        confirmed(confirmation, "handoff_call")
        return await state.require().handoff(
            call_id,
            assistant_id=assistant_id,
            assistant=assistant,
            context=context,
            max_messages=max_messages,
            message=message,
        )
