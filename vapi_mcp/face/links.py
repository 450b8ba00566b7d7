"""Tool results that name a call's resources carry them as ``ResourceLink`` content (DESIGN §11).

A client shows a link as something to open or subscribe to, rather than a URI buried in JSON. The structured
content is the same as without links, and the text block is the JSON the SDK would have sent, so a client
that reads either sees no difference.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent
from pydantic import BaseModel

from vapi_mcp.supervisor.views import CallInfo, CallList, CallResources

__all__ = ["with_links"]

_LINKS: tuple[tuple[str, str, str], ...] = (
    ("call", "call", "application/json"),
    ("events", "call-events", "application/json"),
    ("audio_summary", "call-audio-summary", "application/json"),
    ("transcript", "call-transcript", "text/plain"),
    ("recording", "call-recording", "audio/wav"),
)


def _links(resources: CallResources) -> list[ContentBlock]:
    return [
        ResourceLink(type="resource_link", uri=getattr(resources, field), name=name, mime_type=mime)
        for field, name, mime in _LINKS
    ]


def with_links(result: Any) -> Any:
    """``result`` as a ``CallToolResult`` with resource links when it names a call's resources; else as is."""
    if isinstance(result, CallInfo) and result.resources is not None:
        links = _links(result.resources)
    elif isinstance(result, CallList):
        links = [
            ResourceLink(type="resource_link", uri=info.resources.call, name="call", mime_type="application/json")
            for info in result.calls
            if info.resources is not None
        ]
    else:
        return result
    if not links:
        return result
    model: BaseModel = result
    structured = model.model_dump(mode="json")
    text = TextContent(type="text", text=json.dumps(structured, indent=2, ensure_ascii=False))
    return CallToolResult(content=[text, *links], structured_content=structured)
