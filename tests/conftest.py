"""Shared fixtures: a Vapi emulator on loopback and the real server driven by the SDK's own Client."""

from __future__ import annotations

import logging
import os
import secrets
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


REDIS_URL = os.environ.get("VAPI_MCP_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
REDIS_HOWTO = (
    "start one with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no "
    "(or point VAPI_MCP_TEST_REDIS_URL at one); .ci/run starts it for you"
)


def _redis_answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)  # pyright: ignore[reportUnknownMemberType]
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Redis URL that answers, and a key prefix of this test's own (deleted afterwards; never FLUSHALL).

    Without Redis the test skips with how to start one, except in CI (``CI=true``), where it fails loudly.
    """
    import redis

    if not _redis_answers(REDIS_URL):
        message = f"the replica tests need a Redis server at {REDIS_URL}: {REDIS_HOWTO}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    prefix = f"vapi-mcp-test-{secrets.token_hex(4)}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)  # pyright: ignore[reportUnknownMemberType]
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
