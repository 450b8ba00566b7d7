"""GET /dashboard on the HTTP transport: the panel's page behind the server's token, and its /mcp proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from tests.helpers import HTTP_TOKEN, http_server
from vapi_mcp.emulator import Emulator
from vapi_mcp.face.panel import panel_html

MODERN = {
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "resources/read",
    "mcp-name": "vapi://calls",
}
READ_CALLS = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "resources/read",
    "params": {
        "uri": "vapi://calls",
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    },
}


@pytest.fixture
async def http(emulator: Emulator, tmp_path: Path) -> AsyncIterator[httpx2.AsyncClient]:
    async with http_server(emulator, tmp_path / "data") as origin, httpx2.AsyncClient(base_url=origin) as client:
        yield client


async def test_a_read_only_server_serves_the_page_without_controls(emulator: Emulator, tmp_path: Path) -> None:
    async with (
        http_server(emulator, tmp_path / "data", read_only=True) as origin,
        httpx2.AsyncClient(base_url=origin) as client,
    ):
        page = await client.get("/dashboard", headers={"Authorization": f"Bearer {HTTP_TOKEN}"})
    assert page.status_code == 200 and page.text == panel_html(read_only=True)
    assert '<section id="controls" hidden>' in page.text


async def test_the_page_needs_the_token(http: httpx2.AsyncClient) -> None:
    for path in ("/dashboard", "/dashboard?token=wrong", "/dashboard/mcp"):
        response = await http.get(path)
        assert response.status_code == 401, path
        assert HTTP_TOKEN not in response.text
    response = await http.get("/dashboard", headers={"Cookie": "vapi_mcp_dashboard=forged"})
    assert response.status_code == 401


async def test_the_token_in_the_query_becomes_a_cookie_and_leaves_the_url(http: httpx2.AsyncClient) -> None:
    response = await http.get(f"/dashboard?token={HTTP_TOKEN}")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    assert HTTP_TOKEN not in cookie
    value = cookie.split(";", 1)[0]
    page = await http.get("/dashboard", headers={"Cookie": value})
    assert page.status_code == 200 and page.text == panel_html()
    assert page.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    # The page's MCP requests go through /dashboard/mcp, which adds the token itself.
    reply = await http.post("/dashboard/mcp", headers={**MODERN, "Cookie": value}, json=READ_CALLS)
    assert reply.status_code == 200 and reply.json()["result"]["contents"][0]["uri"] == "vapi://calls"
    http.cookies.clear()  # the client kept the cookie too
    assert (await http.post("/dashboard/mcp", headers=MODERN, json=READ_CALLS)).status_code == 401


async def test_a_bearer_header_works_and_other_paths_are_refused(http: httpx2.AsyncClient) -> None:
    bearer = {"Authorization": f"Bearer {HTTP_TOKEN}"}
    assert (await http.get("/dashboard", headers=bearer)).status_code == 200
    assert (await http.head("/dashboard", headers=bearer)).status_code == 200
    assert (await http.post("/dashboard", headers=bearer)).status_code == 405
    assert (await http.get("/dashboard/other", headers=bearer)).status_code == 404
    assert (await http.get("/mcp")).status_code == 401  # the MCP endpoint itself is unchanged
