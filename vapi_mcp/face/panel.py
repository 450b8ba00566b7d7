"""The live call panel: an MCP App (``ui://vapi/panel.html``) bound to the ``open_call_panel`` tool.

The page (``panel.html`` beside this module) is one self-contained document: its CSS and its small
hand-written JS are inline, it loads nothing from the network, and it reaches the server only
through its host (``tools/call`` and ``resources/read`` over the MCP Apps postMessage bridge), or,
served as the HTTP dashboard (:mod:`vapi_mcp.face.dashboard`), through ``/mcp`` with the bearer token.

The tool's own result is plain text plus a small structured view, so a host without MCP Apps
still gets a clear answer: the calls, their status and listen state, or one call's figures.
"""

from __future__ import annotations

from collections import Counter
from importlib import resources
from typing import Annotated

from mcp.server.apps import Apps, client_supports_apps
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from vapi_mcp.face.errors import agent_errors
from vapi_mcp.face.state import AppState
from vapi_mcp.face.tools.args import LOCAL_READ, CallId
from vapi_mcp.supervisor import CallSupervisor
from vapi_mcp.supervisor.views import AudioSummary, CallInfo

__all__ = ["PANEL_URI", "PanelView", "build_panel", "panel_html"]

PANEL_URI = "ui://vapi/panel.html"
NO_APPS_HINT = "This client shows no MCP Apps; on the HTTP transport the same panel is at /dashboard (see the README)."


class PanelView(BaseModel):
    call_id: str | None = None
    summary: str


_CONTROLS = '<section id="controls">'


def panel_html(*, read_only: bool = False) -> str:
    """The panel's HTML, read from the package (once per server, never at import time).

    A read-only server has no control tools, so its page comes without the controls (hidden, not disabled).
    """
    html = resources.files("vapi_mcp.face").joinpath("panel.html").read_text(encoding="utf-8")
    return html.replace(_CONTROLS, '<section id="controls" hidden>') if read_only else html


def _call_line(info: CallInfo, alerts: Counter[str]) -> str:
    line = f"{info.call_id}: {info.status}, listening {info.listen_state}, {info.event_count} events"
    return f"{line}, {alerts[info.call_id]} alert(s)" if alerts[info.call_id] else line


def _alerts_by_call(supervisor: CallSupervisor) -> Counter[str]:
    """Alerts in the inbox's latest window, by call."""
    return Counter(str(e.data.get("call_id")) for e in supervisor.latest_inbox().events if e.type == "alert")


def _summary_lines(summary: AudioSummary) -> list[str]:
    lines = [
        f"heard {summary.duration_s:.1f} s; overlap {summary.overlap_s:.1f} s; "
        f"dead air now {summary.current_silence_s:.1f} s (longest {summary.longest_silence_s:.1f} s)"
    ]
    for party, figures in summary.parties.items():
        lines.append(
            f"{party}: talk {figures.talk_ratio:.0%} ({figures.talk_s:.1f} s, {figures.turns} turns), "
            f"mean {figures.mean_dbfs:.0f} dBFS{', speaking' if figures.speaking else ''}"
        )
    return lines


def build_panel(state: AppState, *, read_only: bool = False) -> Apps:
    """The Apps extension for ``MCPServer(extensions=[...])``: the panel resource and its tool."""
    apps = Apps()
    apps.add_html_resource(
        PANEL_URI,
        panel_html(read_only=read_only),
        name="call-panel",
        title="Live call panel",
        description="Live calls, activity, transcript, alerts and controls.",
        prefers_border=True,
    )

    @apps.tool(resource_uri=PANEL_URI, title="Open the call panel", annotations=LOCAL_READ)
    @agent_errors
    async def open_call_panel(
        ctx: Context,
        call_id: Annotated[CallId | None, Field(description="One call; none: every supervised call.")] = None,
    ) -> Annotated[CallToolResult, PanelView]:
        """Show the human a live panel of one call or of every supervised call (MCP Apps hosts)."""
        supervisor = state.require()
        alerts = _alerts_by_call(supervisor)
        if call_id is None:
            calls = supervisor.supervised_calls()
            lines = [f"{len(calls)} supervised call(s)", *(_call_line(info, alerts) for info in calls)]
        else:
            info = supervisor.info(call_id)
            lines = [_call_line(info, alerts), *_summary_lines(await supervisor.audio_summary(call_id))]
        if not client_supports_apps(ctx):
            lines.append(NO_APPS_HINT)
        view = PanelView(call_id=call_id, summary="\n".join(lines))
        text = TextContent(type="text", text=view.summary)
        return CallToolResult(content=[text], structured_content=view.model_dump())

    return apps
