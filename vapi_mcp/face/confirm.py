"""Confirmations: ``end_call``, ``transfer_call`` and ``handoff_call`` ask the human first (DESIGN §11).

The question goes through MCP elicitation, the SDK's era-portable way: a tool parameter filled by a resolver
(``Resolve``) that returns ``Elicit(question, Confirm)`` becomes a live ``elicitation/create`` request on a
handshake-era connection and an ``InputRequiredResult`` round trip on 2026-07-28. The resolver runs before the
tool body; the body (behind the one error mapping) then refuses unless the human said yes, so a declined or
cancelled confirmation sends nothing to Vapi.

``VAPI_MCP_CONFIRM``: ``auto`` asks when the client can answer (it declared form elicitation) and goes ahead
otherwise; ``always`` refuses when it cannot ask; ``never`` does not ask.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from mcp.server.mcpserver import AcceptedElicitation, Context, DeclinedElicitation, Elicit, ElicitationResult
from pydantic import BaseModel, Field

from vapi_mcp.errors import NotConfirmed, VapiMcpError
from vapi_mcp.face.state import AppState
from vapi_mcp.policy import check_transfer_allowed, classify_destination

__all__ = ["Confirm", "Confirmation", "Skipped", "confirm_end", "confirm_handoff", "confirm_transfer", "confirmed"]

Skipped = Literal["not asked", "cannot ask"]


class Confirm(BaseModel):
    """What the human is asked: a yes/no box."""

    confirm: bool = Field(description="Yes, do it now.")


Confirmation = ElicitationResult[Confirm]
"""What a destructive tool receives: accepted (with the answer, or a :data:`Skipped` reason), declined, cancelled."""


def _can_ask(ctx: Context) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _ask(ctx: Context, question: str) -> Elicit[Confirm] | Skipped:
    """The ``Elicit`` a resolver returns, or why it does not ask (``VAPI_MCP_CONFIRM``, the client's capability)."""
    state = cast("AppState", ctx.request_context.lifespan_context)
    mode = state.settings.confirm
    if mode == "never":
        return "not asked"
    if not _can_ask(ctx):
        return "not asked" if mode == "auto" else "cannot ask"
    return Elicit(question, Confirm)


# The resolvers of the three destructive tools (module level: the SDK evaluates the tools' annotations).


async def confirm_end(ctx: Context, call_id: str) -> Elicit[Confirm] | Skipped:
    return _ask(ctx, f"End call {call_id} now? The caller is hung up; this cannot be undone.")


async def confirm_transfer(ctx: Context, call_id: str, destination: str) -> Elicit[Confirm] | Skipped:
    allowlist = cast("AppState", ctx.request_context.lifespan_context).settings.transfer_allowlist
    try:
        classify_destination(destination)
        check_transfer_allowed(destination, allowlist)
    except VapiMcpError:
        return "not asked"  # the tool refuses it anyway, with the policy's own error: no need to ask anyone
    return _ask(ctx, f"Transfer call {call_id} to {destination}? The assistant leaves the call.")


async def confirm_handoff(ctx: Context, call_id: str, assistant_id: str | None) -> Elicit[Confirm] | Skipped:
    who = f"assistant {assistant_id}" if assistant_id else "a transient assistant"
    return _ask(ctx, f"Hand call {call_id} over to {who}? The current assistant leaves the call.")


def confirmed(outcome: object, action: str) -> None:
    """Go on only if the human said yes, or was not to be asked; otherwise :class:`NotConfirmed`."""
    if isinstance(outcome, AcceptedElicitation):
        answer: object = cast("AcceptedElicitation[Any]", outcome).data
        if answer == "not asked" or (isinstance(answer, Confirm) and answer.confirm):
            return
        if answer == "cannot ask":
            raise NotConfirmed(
                f"{action} needs a human's confirmation (VAPI_MCP_CONFIRM=always) and this client cannot ask one "
                "(it declared no elicitation)",
                hint="Nothing was sent to Vapi. Use a client that supports elicitation, or ask the operator.",
            )
        raise NotConfirmed(f"{action}: the human did not confirm it (answered no)")
    declined = isinstance(outcome, DeclinedElicitation)
    raise NotConfirmed(f"{action}: the human {'declined' if declined else 'cancelled'} the confirmation")
