"""Headless Chromium against the real server on HTTP and the emulator.

Needs Debian's ``chromium`` (``/usr/bin/chromium``), the ``playwright`` Python package (it drives
that browser; it never downloads one) and the test host bundle (``npm ci && npm run build`` here).
``.ci/run`` installs all three and sets ``VAPI_MCP_BROWSER_TESTS=required``: then a missing piece
fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
BUNDLE = HERE / "dist" / "host.bundle.js"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    return os.environ.get("VAPI_MCP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    if _chromium() is None:
        return "chromium is not installed (apt-get install chromium)"
    if not BUNDLE.exists():
        return f"the test host is not built (cd {HERE} && npm ci && npm run build)"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    missing = _missing()
    if missing:
        if os.environ.get("VAPI_MCP_BROWSER_TESTS") == "required":
            pytest.fail(f"browser tests are required here, but {missing}")
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()
