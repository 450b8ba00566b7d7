"""Shared fixtures: a Vapi emulator on loopback and the real server driven by the SDK's own Client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator
from vapi_mcp.face import create_server
from vapi_mcp.settings import Settings

API_KEY = "test-private-key-0123456789"
ERAS = ["auto", "legacy"]  # auto negotiates 2026-07-28; legacy forces the 2025-11-25 handshake


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def emulator_options() -> EmulatorOptions:
    """Override in a test module to change the emulator (scenario, time scale, …)."""
    return EmulatorOptions(api_key=API_KEY, scenario="open-ended", time_scale=10.0)


@pytest.fixture
async def emulator(emulator_options: EmulatorOptions) -> AsyncIterator[Emulator]:
    async with running_emulator(emulator_options) as emu:
        yield emu


def make_settings(emu: Emulator, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": emu.base_url,
        "data_dir": data_dir,
        "poll_interval_s": 0.2,
        "request_timeout_s": 5.0,
        "control_timeout_s": 5.0,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def settings(emulator: Emulator, tmp_path: Path) -> Settings:
    return make_settings(emulator, tmp_path / "data")


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def client(settings: Settings, era: str) -> AsyncIterator[Client]:
    async with Client(create_server(settings), mode=era) as mcp_client:  # type: ignore[arg-type]
        yield mcp_client


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record at DEBUG, for secret-leak checks."""
    with caplog.at_level(logging.DEBUG):
        yield caplog
