"""The `vapi-mcp` command as a user runs it: demo, emulator, sandbox, and the registry manifest."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import anyio
import httpx2
from jsonschema import Draft7Validator, FormatChecker
from mcp import Client, StdioServerParameters

import vapi_mcp
from tests.helpers import call_ok, live_call

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "VAPI_MCP_DATA_DIR": str(tmp_path), **extra}


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "vapi_mcp", "--version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == f"vapi-mcp {vapi_mcp.__version__}"


def test_demo_runs_a_whole_supervised_call(tmp_path: Path) -> None:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "vapi_mcp", "demo", "--time-scale", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert time.monotonic() - started < 30
    text = out.stdout
    for expected in (
        "create_call →",
        "starts speaking",
        'transcript assistant: "',
        "say → say sent",
        "add_message (system, silent) → add-message sent",
        "mute-assistant sent",
        "unmute-assistant sent",
        "not allowlisted) → refused",
        "transfer to +14155550199 sent",
        "endedReason=assistant-forwarded-call",
        "end_call → end-call sent",
        "audio summary",
        "recording (stereo WAV",
        "'type': 'transfer'",
        "alert dead_air (warning) dead-air call: nobody has spoken for 3 s",
        "alert talk_over (warning) talk-over call",
        "alert keywords (warning) angry call: the customer said",
        "→ add_message to the angry call: add-message sent",
        "fleet: every trouble was flagged in the inbox and handled",
    ):
        assert expected in text, f"demo output lacks {expected!r}"
    recording = Path(re.search(r"recording \(stereo WAV[^:]*: (\S+)", text).group(1))  # type: ignore[union-attr]
    assert recording.is_relative_to(tmp_path) and recording.stat().st_size > 100_000
    assert out.stderr.strip() == "", out.stderr[-2000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_emulator_command(tmp_path: Path) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "vapi_mcp", "emulator", "--port", str(port), "--api-key", "emu-key-123456"]
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr_file:
        async with await anyio.open_process(command, env=_env(tmp_path), stdout=None, stderr=stderr_file) as proc:
            try:
                async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                    with anyio.fail_after(20):
                        while True:
                            try:
                                denied = await http.get("/call", headers={"Authorization": "Bearer wrong"})
                                break
                            except httpx2.ConnectError:
                                await anyio.sleep(0.1)
                    assert denied.status_code == 401 and denied.json()["error"] == "Unauthorized"
                    created = await http.post(
                        "/call",
                        headers={"Authorization": "Bearer emu-key-123456"},
                        json={"assistantId": "a", "customer": {"number": "+14155550123"}},
                    )
                    assert created.status_code == 201 and created.json()["status"] == "queued"
            finally:
                proc.terminate()
                with anyio.fail_after(10):
                    await proc.wait()
    stderr = stderr_path.read_text()
    assert "emu-key-123456" not in stderr
    assert created.json()["monitor"]["listenUrl"] not in stderr


async def test_sandbox_needs_no_key(tmp_path: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "vapi_mcp", "--sandbox"], env=_env(tmp_path))
    with anyio.fail_after(30):
        async with Client(params) as client:
            call_id = await live_call(client, listen=True)
            result = await call_ok(client, "say", {"call_id": call_id, "content": "hello from the sandbox"})
            assert result["sent"] is True
            args = {"call_id": call_id, "types": ["speech.started"], "after_seq": 0}
            heard = await call_ok(client, "wait_for_event", args)
            assert heard["matched"] is True


def test_server_json_is_a_valid_registry_manifest() -> None:
    manifest = json.loads((ROOT / "server.json").read_text())
    schema = json.loads((ROOT / "tests" / "data" / "server.schema.json").read_text())
    errors = list(Draft7Validator(schema, format_checker=FormatChecker()).iter_errors(manifest))
    assert errors == []
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package = manifest["packages"][0]
    assert manifest["version"] == package["version"] == pyproject["project"]["version"] == vapi_mcp.__version__
    assert package["identifier"] == pyproject["project"]["name"]
    declared = {var["name"]: var for var in package["environmentVariables"]}
    read = set(re.findall(r'"(VAPI_[A-Z_]+)"', (ROOT / "vapi_mcp" / "settings.py").read_text()))
    assert read == set(declared), "server.json must declare exactly the variables the server reads"
    secrets = {name for name, var in declared.items() if var.get("isSecret")}
    assert secrets == {
        "VAPI_API_KEY",
        "VAPI_PUBLIC_KEY",
        "VAPI_MCP_HTTP_TOKEN",
        "VAPI_MCP_WEBHOOK_SECRET",
        "VAPI_MCP_REDIS_URL",
    }
    readme = (ROOT / "README.md").read_text()
    assert f"mcp-name: {manifest['name']}" in readme


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_stdio_with_a_webhook_port_receives_webhooks(tmp_path: Path) -> None:
    port = _free_port()
    secret = "webhook-secret-0123456789abcdef"
    env = _env(tmp_path, VAPI_MCP_WEBHOOK_SECRET=secret)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "vapi_mcp", "--sandbox", "--webhook-port", str(port)], env=env
    )
    url = f"http://127.0.0.1:{port}/vapi/webhook"
    body = b'{"message": {"type": "hang"}}'
    with anyio.fail_after(30):
        async with Client(params) as client, httpx2.AsyncClient() as http:
            assert (await client.list_tools()).tools  # stdio still speaks MCP
            while True:
                try:
                    answer = await http.post(url, content=body, headers={"X-Vapi-Secret": secret})
                    break
                except httpx2.ConnectError:
                    await anyio.sleep(0.1)
            assert (answer.status_code, answer.json()) == (200, {})
            assert (await http.post(url, content=body)).status_code == 401


def test_a_webhook_port_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "vapi_mcp", "--sandbox", "--webhook-port", str(_free_port())]
    out = subprocess.run(args, env=_env(tmp_path), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    assert "VAPI_MCP_WEBHOOK_SECRET" in out.stderr and "Traceback" not in out.stderr
