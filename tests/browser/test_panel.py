"""The call panel in a real browser: inside a test host built on the official MCP Apps bridge, and as /dashboard.

Each test runs the real server on HTTP against the emulator, starts a listened call, and drives
the page like a person: it waits for the transcript, clicks mute (the emulator must receive the
control message), says something (the emulator must speak it), sees the dead-air alert and a transfer
the allowlist refuses, and saves a screenshot. Every
request the page makes is recorded: none may leave the server's origin.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.browser.conftest import BUNDLE, HERE
from tests.helpers import HTTP_TOKEN as TOKEN
from tests.helpers import http_server, live_call
from vapi_mcp.emulator import Emulator, EmulatorOptions

pytestmark = pytest.mark.anyio
SAID = "Thanks for waiting, a colleague will join shortly."
TIMEOUT_MS = 20_000


@pytest.fixture
def emulator_options() -> EmulatorOptions:
    from tests.conftest import API_KEY

    # The emulator streams a listener the call from the moment it joins: ringing for 2 s (8 call seconds), the
    # server's listener is surely in before the greeting the panel must show, even on a loaded machine.
    return EmulatorOptions(api_key=API_KEY, scenario="open-ended", time_scale=4.0, ring_s=8.0)


@pytest.fixture
async def origin(emulator: Emulator, tmp_path: Path) -> AsyncIterator[str]:
    async with http_server(emulator, tmp_path / "data", transfer_allowlist=("+1415555*",)) as url:
        yield url


@pytest.fixture
async def call_id(origin: str) -> str:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        Client(streamable_http_client(f"{origin}/mcp", http_client=http)) as client,  # type: ignore[arg-type]
    ):
        return await live_call(client, listen=True)


def screenshot_path(tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("VAPI_MCP_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


async def until(check: Any, what: str, timeout: float = 15.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.05)


async def exercise(root: Any, emulator: Emulator, call_id: str) -> None:
    """What a person does with the panel; ``root`` is the page or the panel's frame."""
    from playwright.async_api import expect

    await expect(root.locator("#transcript")).to_contain_text("Acme billing", timeout=TIMEOUT_MS)
    await expect(root.locator("#title")).to_contain_text(call_id)
    await expect(root.locator("#activity .track").first).to_be_visible()
    # The scripted call falls silent after its three turns: the dead_air rule fires, in the call and the inbox.
    await expect(root.locator("#alerts")).to_contain_text("dead_air: nobody has spoken", timeout=TIMEOUT_MS)
    await expect(root.locator(f'#calls tr[data-id="{call_id}"] .badge')).to_have_text(re.compile(r"^[1-9]"))

    await root.locator("#mute-customer").click()
    await until(lambda: emulator.view(call_id)["muted"]["customer"], "the emulator muted the customer")
    assert emulator.control_log(call_id)[-1].body == {"type": "control", "control": "mute-customer"}
    await expect(root.locator("#mute-customer")).to_have_text("Unmute customer", timeout=TIMEOUT_MS)

    await root.locator("#say-text").fill(SAID)
    await root.locator("#say").click()
    await until(lambda: SAID in emulator.view(call_id)["said"], "the emulator spoke the text")
    await expect(root.locator("#result")).to_contain_text("say", timeout=TIMEOUT_MS)
    await expect(root.locator("#events")).to_contain_text("mute-customer ok", timeout=TIMEOUT_MS)

    sent = len(emulator.control_log(call_id))
    await root.locator("#transfer-to").fill("+19005550100")
    await root.locator("#transfer").click()
    await expect(root.locator("#transfer")).to_have_text("Really? Click again")
    await root.locator("#transfer").click()
    await expect(root.locator("#result")).to_contain_text("transfer_call refused", timeout=TIMEOUT_MS)
    await expect(root.locator("#result")).to_contain_text("allowlist")
    assert len(emulator.control_log(call_id)) == sent, "a refused transfer sends nothing"


async def background(root: Any) -> str:
    return str(await root.locator("body").evaluate("body => getComputedStyle(body).backgroundColor"))


async def cut_off(page: Any, root: Any, path: str) -> None:
    """With ``path`` unreachable, the page must say so (it would otherwise show stale figures as live)."""
    from playwright.async_api import expect

    await page.route(f"**{path}", lambda route: route.abort())
    await expect(root.locator("#conn")).to_contain_text("cannot reach the server", timeout=TIMEOUT_MS)


def only_server_requests(urls: list[str], origin: str) -> None:
    foreign = [url for url in urls if not url.startswith(origin + "/") and not url.startswith("about:")]
    assert not foreign, f"the page reached beyond the server: {foreign}"


async def test_the_panel_in_an_mcp_apps_host(
    browser: Any, origin: str, call_id: str, emulator: Emulator, tmp_path: Path
) -> None:
    # The browser prefers dark, the host says light: the panel follows the host.
    page = await browser.new_page(viewport={"width": 1100, "height": 900}, color_scheme="dark")
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    files = {"host.html": HERE / "host.html", "dist/host.bundle.js": BUNDLE}

    async def serve_host(route: Any) -> None:
        name = route.request.url.split("/__host/", 1)[1].split("?", 1)[0]
        await route.fulfill(path=str(files[name]))

    # The host page is served as if from the server's origin, so its MCP client reaches /mcp without CORS.
    await page.route(f"{origin}/__host/**", serve_host)
    await page.goto(f"{origin}/__host/host.html?token={TOKEN}&call_id={call_id}")
    from playwright.async_api import expect

    await expect(page.locator("body")).to_have_attribute("data-panel", "initialized", timeout=TIMEOUT_MS)
    assert await page.locator("body").get_attribute("data-mime") == "text/html;profile=mcp-app"
    assert "listening" in await page.locator("#tool-text").text_content()  # type: ignore[operator]
    panel = page.frame_locator("iframe")
    await expect(panel.locator("html")).to_have_attribute("data-theme", "light")
    assert await background(panel) == "rgb(255, 255, 255)"
    await exercise(panel, emulator, call_id)
    await page.screenshot(path=str(screenshot_path(tmp_path, "panel.png")))
    only_server_requests(urls, origin)
    assert all("/__host/" in url or url.startswith(f"{origin}/mcp") for url in urls), urls
    await cut_off(page, panel, "/mcp")


async def test_the_dashboard(browser: Any, origin: str, call_id: str, emulator: Emulator, tmp_path: Path) -> None:
    page = await browser.new_page(viewport={"width": 1100, "height": 900}, color_scheme="dark")
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    await page.goto(f"{origin}/dashboard?token={TOKEN}")
    assert page.url == f"{origin}/dashboard", "the token leaves the address bar"
    assert await background(page) == "rgb(17, 19, 24)", "no host: the browser's dark preference"
    await exercise(page, emulator, call_id)
    await page.screenshot(path=str(screenshot_path(tmp_path, "dashboard.png")))
    only_server_requests(urls, origin)
    assert TOKEN not in await page.content()

    from playwright.async_api import expect

    await page.locator("#mute-customer").click()  # now "Unmute customer"
    await until(lambda: not emulator.view(call_id)["muted"]["customer"], "the emulator unmuted the customer")
    await page.locator("#end").click()
    await expect(page.locator("#end")).to_have_text("Really? Click again")
    assert emulator.view(call_id)["status"] == "in-progress", "one click ends nothing"
    await page.locator("#end").click()
    await until(lambda: emulator.view(call_id)["status"] == "ended", "the emulator ended the call")
    await expect(page.locator("#title")).to_contain_text("ended", timeout=TIMEOUT_MS)
    await expect(page.locator("#say")).to_be_disabled()
    await cut_off(page, page, "/dashboard/mcp")


async def test_a_read_only_dashboard_shows_no_controls(browser: Any, emulator: Emulator, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with http_server(emulator, tmp_path / "data", read_only=True) as origin:
        page = await browser.new_page()
        await page.goto(f"{origin}/dashboard?token={TOKEN}")
        await expect(page.locator("#conn")).to_contain_text("live", timeout=TIMEOUT_MS)  # it reads the server
        await expect(page.locator("#controls")).to_be_hidden()
        for button in ("#say", "#mute-customer", "#transfer", "#end"):
            await expect(page.locator(button)).to_be_hidden()
        await page.close()
