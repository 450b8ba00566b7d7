"""The one place where our exceptions become errors an agent can act on, and how tools are registered.

Every tool goes through :func:`tool`, so none can skip :func:`agent_errors`: a ``VapiMcpError``
becomes a ``ToolError`` whose text says what happened and what to do next; a pydantic
``ValidationError`` from a Vapi message model becomes "invalid arguments". Anything else is a
bug and reaches the agent as the SDK's generic failure (no traceback, no internals).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.types import ToolAnnotations
from pydantic import ValidationError

from vapi_mcp.errors import CallNotFound, RecordingUnavailable, ReportUnavailable, VapiMcpError
from vapi_mcp.face.links import with_links

__all__ = ["agent_errors", "agent_text", "resource_errors", "tool"]

P = ParamSpec("P")
R = TypeVar("R")


def agent_text(exc: VapiMcpError) -> str:
    """``message (Type). hint`` — what happened, what kind of failure, and what to do next."""
    text = f"{exc} ({type(exc).__name__})"
    return f"{text}. {exc.hint}" if exc.hint else text


def agent_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Map every ``VapiMcpError`` (and a Vapi model's ``ValidationError``) to a ``ToolError``; results that name a
    call's resources get them as links (:mod:`~vapi_mcp.face.links`)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return with_links(await fn(*args, **kwargs))
        except VapiMcpError as exc:
            raise ToolError(agent_text(exc)) from exc
        except ValidationError as exc:
            # A Vapi message model refused a combination the tool schema let through.
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
            raise ToolError(f"invalid arguments: {problems} (InvalidInput). Correct them and try again.") from exc

    return wrapper


@contextmanager
def resource_errors() -> Generator[None]:
    """In a resource read: an unknown call, a missing recording or report is "resource not found", with the hint."""
    try:
        yield
    except (CallNotFound, RecordingUnavailable, ReportUnavailable) as exc:
        raise ResourceNotFoundError(agent_text(exc)) from None


def tool(
    server: MCPServer[Any], *, title: str, annotations: ToolAnnotations
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Register a tool with its annotations, always behind :func:`agent_errors`."""

    def register(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        server.tool(title=title, annotations=annotations)(agent_errors(fn))
        return fn

    return register
