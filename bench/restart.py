"""Recovery time after a restart (issue 11): a server process SIGKILLed while it listens to live calls.

    python -m bench.restart               # 20 live calls, each heard for 5 s before the kill
    python -m bench.restart --quick       # 2 calls (tests/test_bench_smoke.py)

One run: the emulator in this process on loopback; a server process (``python -m vapi_mcp --transport http``)
places ``--calls`` calls through MCP and listens until each has ``--heard`` seconds of audio analysed; it is
killed with SIGKILL and a new process starts on the same data dir. Printed, from the new process's spawn:

- ``listed``: when ``vapi://calls`` first lists every call (the index is done; the process's Python start-up
  is included, and given on its own as ``start``: the MCP session is open);
- ``resumed``: when every call has its ``listen.gap`` (reason ``restart``): listening is back on all of them;
- whether every call's audio summary still covers the talk heard before the kill.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator

API_KEY = "bench-private-key-0123456789"
TOKEN = "bench-http-token-0123456789abcdefghijkl"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--heard", type=float, default=5.0, help="seconds of each call heard before the kill")
    parser.add_argument("--quick", action="store_true", help="2 calls heard for 2 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.heard = 2, 2.0
    return args


def spawn(emulator: Emulator, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data_dir),
        "VAPI_API_KEY": API_KEY,
        "VAPI_BASE_URL": str(emulator.base_url),
        "VAPI_MCP_DATA_DIR": str(data_dir),
        "VAPI_MCP_HTTP_TOKEN": TOKEN,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "vapi_mcp", "--transport", "http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}/mcp"


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Client]:
    while True:  # until the process accepts connections
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", int(url.split(":")[2].split("/")[0]))
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.02)
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,  # type: ignore[arg-type]
    ):
        yield client


async def tool(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"{name} failed: {result.content}")
    return result.structured_content


async def talk_s(client: Client, call_id: str) -> tuple[float, float]:
    summary = await tool(client, "get_audio_summary", {"call_id": call_id})
    return summary["duration_s"], sum(p["talk_s"] for p in summary["parties"].values())


async def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    options = EmulatorOptions(api_key=API_KEY, scenario="long:3600", time_scale=1.0)
    async with running_emulator(options) as emulator:
        first, url = spawn(emulator, data_dir)
        try:
            async with connected(url) as client:
                ids = [
                    (await tool(client, "create_call", {"customer_number": "+14155550123", "assistant_id": "a"}))[
                        "call_id"
                    ]
                    for _ in range(args.calls)
                ]
                heard: dict[str, float] = {}
                for call_id in ids:
                    # Polling another process's view: no event of ours to wait on.
                    while (got := await talk_s(client, call_id))[0] < args.heard:  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
                    heard[call_id] = got[1]
                first.send_signal(signal.SIGKILL)
                first.wait()
        finally:
            if first.poll() is None:
                first.kill()
        started = time.perf_counter()
        second, url = spawn(emulator, data_dir)
        try:
            async with connected(url) as client:
                answered = time.perf_counter() - started
                while True:
                    listed = await client.read_resource("vapi://calls")
                    text = listed.contents[0].text  # type: ignore[union-attr]
                    if {c["call_id"] for c in json.loads(text)["calls"]} >= set(ids):
                        break
                    await asyncio.sleep(0.01)
                listed_s = time.perf_counter() - started
                for call_id in ids:
                    args_ = {"call_id": call_id, "types": ["listen.gap"], "after_seq": 0, "timeout_s": 50}
                    if not (await tool(client, "wait_for_event", args_))["matched"]:
                        raise RuntimeError(f"call {call_id} did not resume listening")
                resumed_s = time.perf_counter() - started
                covered = True
                for call_id in ids:
                    covered = covered and (await talk_s(client, call_id))[1] >= heard[call_id] - 0.3
                for call_id in ids:
                    await tool(client, "end_call", {"call_id": call_id})
        finally:
            second.terminate()
            second.wait(timeout=10)
    return {"calls": args.calls, "start_s": answered, "listed_s": listed_s, "resumed_s": resumed_s, "covered": covered}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vapi-mcp-restart-") as tmp:
        result = asyncio.run(run(args, Path(tmp) / "data"))
    print(
        f"restart: {result['calls']} live calls; from the new process's spawn: start {result['start_s']:.2f} s, "
        f"listed {result['listed_s']:.2f} s, listening resumed on all {result['resumed_s']:.2f} s"
    )
    print(f"  summaries cover the talk heard before the kill: {'yes' if result['covered'] else 'NO'}")
    print("RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
