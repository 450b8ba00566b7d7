"""The call panel as an MCP App: its tool, its ui:// resource, and the text a host without Apps gets."""

from __future__ import annotations

import re
from typing import Any

from mcp import Client
from mcp.client.extension import ClientExtension

from tests.helpers import call_err, call_ok, live_call
from vapi_mcp.face import create_server
from vapi_mcp.face.panel import NO_APPS_HINT, PANEL_URI, panel_html
from vapi_mcp.settings import Settings

APP_MIME = "text/html;profile=mcp-app"


async def test_the_tool_opens_the_panel_resource(client: Client) -> None:
    tool = next(t for t in (await client.list_tools()).tools if t.name == "open_call_panel")
    assert tool.meta == {"ui": {"resourceUri": PANEL_URI}}
    assert tool.annotations is not None and tool.annotations.read_only_hint is True
    assert tool.annotations.destructive_hint is False and tool.annotations.open_world_hint is False
    assert tool.output_schema is not None
    listed = {str(r.uri): r for r in (await client.list_resources()).resources}
    assert listed[PANEL_URI].mime_type == APP_MIME
    read = await client.read_resource(PANEL_URI)
    content = read.contents[0]
    assert content.mime_type == APP_MIME
    assert content.text == panel_html()  # type: ignore[union-attr]


def test_the_page_is_small_self_contained_and_keyless() -> None:
    html = panel_html()
    assert len(html.encode()) < 60_000
    # Nothing loads from anywhere: no URL at all, no external script, style, image, font or frame.
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/|\bsrc=|\bhref=|@import|url\(|<link|<iframe", html, re.I)
    # It talks to its host (postMessage) or, as the dashboard, to the same origin's /dashboard/mcp only.
    assert re.findall(r"fetch\(([^,]+),", html) == ['"/dashboard/mcp"']
    for secret_word in ("controlUrl", "listenUrl", "monitor", "Bearer", "apiKey", "api_key", "authorization"):
        assert secret_word not in html


async def test_the_page_shows_the_controls_only_where_their_tools_exist(emulator: Any, tmp_path: Any) -> None:
    from tests.conftest import make_settings

    page_tools = set(re.findall(r'act\(\$\([^)]*\), "([a-z_]+)"', panel_html()))
    assert page_tools == {"say", "control_call", "transfer_call", "end_call"}
    for read_only in (False, True):
        server = create_server(make_settings(emulator, tmp_path, read_only=read_only))
        async with Client(server) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            html = (await client.read_resource(PANEL_URI)).contents[0].text  # type: ignore[union-attr]
        controls = re.search(r"<section id=\"controls\"( hidden)?>", html)
        assert controls is not None and html == panel_html(read_only=read_only)
        assert bool(controls.group(1)) == read_only, "hidden on a read-only server"
        assert page_tools <= tools if not read_only else not page_tools & tools


async def test_fleet_and_call_text_for_hosts_without_apps(client: Client) -> None:
    call_id = await live_call(client, listen=True)
    result = await client.call_tool("open_call_panel", {})
    assert not result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "1 supervised call(s)" in text and f"{call_id}: in-progress" in text and NO_APPS_HINT in text
    view = await call_ok(client, "open_call_panel", {"call_id": call_id})
    assert view["call_id"] == call_id
    assert view["summary"].startswith(f"{call_id}: in-progress, listening ") and "overlap" in view["summary"]
    assert "ws://" not in view["summary"] and "http" not in view["summary"]
    # The scripted call falls silent: once the dead-air alert is in, the text counts it.
    await call_ok(client, "wait_for_event", {"call_id": call_id, "types": ["alert"], "after_seq": 0})
    assert re.search(rf"{call_id}: .* [1-9] alert\(s\)", (await call_ok(client, "open_call_panel", {}))["summary"])


async def test_an_unknown_call_is_a_clear_error(client: Client) -> None:
    text = await call_err(client, "open_call_panel", {"call_id": "no-such-call"})
    assert "no-such-call" in text and "attach_call" in text


class AppsHost(ClientExtension):
    """What a host that renders MCP Apps advertises."""

    identifier = "io.modelcontextprotocol/ui"

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [APP_MIME]}


async def test_an_apps_host_gets_no_hint_to_use_the_dashboard(settings: Settings, era: str) -> None:
    async with Client(create_server(settings), mode=era, extensions=[AppsHost()]) as host:  # type: ignore[arg-type]
        view = await call_ok(host, "open_call_panel", {})
    assert view["summary"] == "0 supervised call(s)"
