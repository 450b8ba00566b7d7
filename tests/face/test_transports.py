"""The real process over stdio and streamable HTTP, both protocol eras, against the emulator on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import API_KEY, ERAS
from tests.helpers import call_ok, live_call
from vapi_mcp.emulator import Emulator

TOKEN = "http-token-for-tests-0123456789abcdef"


def _child_env(emulator: Emulator, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data_dir),
        "VAPI_API_KEY": API_KEY,
        "VAPI_BASE_URL": emulator.base_url,
        "VAPI_MCP_DATA_DIR": str(data_dir),
        **extra,
    }


@pytest.mark.parametrize("era", ERAS)
async def test_stdio_both_eras(emulator: Emulator, tmp_path: Path, era: str) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "vapi_mcp"], env=_child_env(emulator, tmp_path), cwd=str(Path.cwd())
    )
    with anyio.fail_after(30):
        async with Client(params, mode=era) as client:  # type: ignore[arg-type]
            assert client.protocol_version == ("2026-07-28" if era == "auto" else "2025-11-25")
            call_id = await live_call(client)
            await call_ok(client, "say", {"call_id": call_id, "content": "over stdio"})
            assert emulator.control_log(call_id)[-1].body["content"] == "over stdio"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_process(emulator: Emulator, data_dir: Path, **extra: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The server as its own process over streamable HTTP, once it accepts connections: (process, MCP URL)."""
    port = _free_port()
    env = _child_env(emulator, data_dir, VAPI_MCP_HTTP_TOKEN=TOKEN, **extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vapi_mcp", "--transport", "http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # A loaded machine can take many seconds to import and start it: wait on a generous deadline, and
        # say so when it never listens (a connection error later would hide why).
        deadline = time.monotonic() + 90
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server died") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the server did not listen on port {port} within 90 s") from None
                time.sleep(0.05)
        yield proc, f"http://127.0.0.1:{port}/mcp"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def http_server(emulator: Emulator, tmp_path: Path) -> Iterator[str]:
    with http_process(emulator, tmp_path) as (_, url):
        yield url


@pytest.mark.parametrize("era", ERAS)
async def test_http_both_eras(http_server: str, emulator: Emulator, era: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with anyio.fail_after(30):
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http,
            Client(streamable_http_client(http_server, http_client=http), mode=era) as client,  # type: ignore[arg-type]
        ):
            assert client.protocol_version == ("2026-07-28" if era == "auto" else "2025-11-25")
            call_id = await live_call(client)
            await call_ok(client, "control_call", {"call_id": call_id, "action": "mute-customer"})
            assert emulator.control_log(call_id)[-1].body == {"type": "control", "control": "mute-customer"}


async def test_http_requires_the_token(http_server: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with anyio.fail_after(10):
        async with httpx2.AsyncClient() as http:
            missing = await http.post(http_server, json=body, headers=accept)
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"].startswith("Bearer")
            wrong = await http.post(http_server, json=body, headers={**accept, "Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            foreign = await http.post(
                http_server,
                json=body,
                headers={**accept, "Authorization": f"Bearer {TOKEN}", "Host": "evil.example.com"},
            )
            assert foreign.status_code == 421


def test_http_refuses_to_start_without_token(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "VAPI_API_KEY": API_KEY}
    proc = subprocess.run(
        [sys.executable, "-m", "vapi_mcp", "--transport", "http", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert b"VAPI_MCP_HTTP_TOKEN" in proc.stderr
    assert b"Traceback" not in proc.stderr


def test_stdio_refuses_to_start_without_key(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vapi_mcp"],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert b"VAPI_API_KEY is not set" in proc.stderr and b"--sandbox" in proc.stderr
