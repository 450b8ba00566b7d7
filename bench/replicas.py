"""Replicas on Redis (DESIGN §13): what sharing the event log costs, and how long a takeover takes.

    python -m bench.replicas            # about half a minute; needs Redis (VAPI_MCP_TEST_REDIS_URL or db 11)
    python -m bench.replicas --quick    # small, a few seconds (what tests/test_bench_smoke.py runs)

Two measurements in one run:

- **append**: ``--events`` events appended to one call's log, as the listen pipeline appends them, through
  the local JSONL journal (``EventLog``) and through Redis (``SharedEventLog``: queued, numbered by the Lua
  script in pipelined batches, and back in the log from the events channel). The Redis time runs until the
  last event is *back in the log*, numbered. Prints events/s each and the ratio local/Redis.
- **takeover**: two server processes (``vapi-mcp --transport http``) share one Redis and an in-process
  emulator; the one that listens to a call is killed with SIGKILL and the clock runs until the other has
  appended ``listen.gap`` (read through the SDK's Client). Default lease (6 s), checked every 1.5 s.

Keys live under a prefix of the run's own, deleted at the end (never FLUSHALL).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import redis
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from vapi_mcp.emulator import EmulatorOptions, running_emulator
from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.shared_log import SharedEventLog
from vapi_mcp.store.shared.channel import Channel
from vapi_mcp.store.shared.link import RedisLink
from vapi_mcp.store.shared.stream import EventStreams, StreamJournal, parse_published

REDIS_URL = os.environ.get("VAPI_MCP_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
API_KEY = "bench-private-key-0123456789"
TOKEN = "bench-http-token-0123456789abcdef0123"
DATA = {"party": "customer", "at_s": 12.34, "duration_s": 1.5}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="events appended per store")
    parser.add_argument("--takeovers", type=int, default=1, help="takeovers measured (0: skip)")
    parser.add_argument("--quick", action="store_true", help="2,000 events, no takeover")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.takeovers = 2000, 0
    return args


def append_local(events: int, folder: Path) -> float:
    log = EventLog("bench", journal=folder / "events.jsonl")
    started = time.perf_counter()
    for _ in range(events):
        log.append("speech.stopped", DATA)
    took = time.perf_counter() - started
    log.close()
    return took


async def append_shared(events: int, prefix: str) -> float:
    link = RedisLink(REDIS_URL, prefix=prefix, replica="bench")
    streams = EventStreams(link)
    channel = Channel(link)
    log = SharedEventLog("bench", journal=StreamJournal(streams, "bench"), submit=streams.submit)

    def event_in(payload: bytes) -> None:
        for _call_id, records in parse_published(payload):
            log.take_all(records)

    channel.on("events", event_in)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(streams.run)
            tasks.start_soon(channel.run)
            await channel.subscribed.wait()
            done = anyio.Event()
            log.add_listener(lambda event: done.set() if event.seq >= events else None)
            started = time.perf_counter()
            for i in range(events):
                log.append("speech.stopped", DATA)
                if i % 500 == 499:
                    await anyio.lowlevel.checkpoint()  # the pipeline appends from the event loop, between frames
            await done.wait()
            took = time.perf_counter() - started
            tasks.cancel_scope.cancel()
    finally:
        await link.aclose()
    return took


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(base_url: str, name: str, data: Path, prefix: str | None) -> dict[str, str]:
    """A server process's environment: its own data dir under ``data``; a replica on Redis when ``prefix``."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data),
        "VAPI_API_KEY": API_KEY,
        "VAPI_BASE_URL": base_url,
        "VAPI_MCP_DATA_DIR": str(data / name),
        "VAPI_MCP_HTTP_TOKEN": TOKEN,
    }
    if prefix is not None:
        env |= {"VAPI_MCP_REDIS_URL": REDIS_URL, "VAPI_MCP_REDIS_PREFIX": prefix, "VAPI_MCP_REPLICA_ID": name}
    return env


def start_server(base_url: str, name: str, data: Path, prefix: str | None) -> tuple[subprocess.Popen[bytes], str]:
    """``vapi-mcp --transport http`` on a free port: (the process, its MCP URL); not waited for."""
    port = _free_port()
    cmd = [sys.executable, "-m", "vapi_mcp", "--transport", "http", "--port", str(port), "--log-level", "WARNING"]
    proc = subprocess.Popen(
        cmd, env=server_env(base_url, name, data, prefix), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return proc, f"http://127.0.0.1:{port}/mcp"


def _replica(base_url: str, prefix: str, name: str, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc, url = start_server(base_url, name, data, prefix)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"replica {name} did not start")


async def _tool(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"{name} failed: {result.content}")
    return result.structured_content


async def takeover(prefix: str, data: Path) -> float:
    """Seconds from SIGKILL of the listening replica to the survivor's listen.gap."""
    options = EmulatorOptions(api_key=API_KEY, scenario="long-call", time_scale=1.0)
    async with running_emulator(options) as emulator, AsyncExitStack() as stack:
        owner, owner_url = _replica(emulator.base_url, prefix, "r0", data)
        other, other_url = _replica(emulator.base_url, prefix, "r1", data)
        stack.callback(lambda: [p.kill() for p in (owner, other)])
        clients: list[Client] = []
        for url in (owner_url, other_url):
            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            )
            clients.append(await stack.enter_async_context(Client(streamable_http_client(url, http_client=http))))
        created = await _tool(clients[0], "create_call", {"customer_number": "+14155550123", "assistant_id": "a"})
        call_id = created["call_id"]
        args = {"call_id": call_id, "types": ["speech.started"], "after_seq": 0, "timeout_s": 30}
        await _tool(clients[1], "wait_for_event", args)
        owner.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        gap = await _tool(clients[1], "wait_for_event", {**args, "types": ["listen.gap"], "timeout_s": 30})
        if not gap["matched"]:
            raise RuntimeError("no takeover within 30 s")
        return time.monotonic() - killed


def redis_cpu_s() -> float:
    """The Redis server's own CPU seconds so far (user + system, from INFO)."""
    client = redis.Redis.from_url(REDIS_URL)  # pyright: ignore[reportUnknownMemberType]
    info = client.info("cpu")  # pyright: ignore[reportUnknownMemberType]
    client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])  # pyright: ignore[reportUnknownArgumentType]


def cleanup(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)  # pyright: ignore[reportUnknownMemberType]
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"vapi-mcp-bench-{secrets.token_hex(4)}:"
    report: dict[str, Any] = {"events": args.events, "prefix": prefix}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local_s = append_local(args.events, Path(tmp))
            redis_cpu = redis_cpu_s()
            shared_s = await append_shared(args.events, prefix)
            report["redis_cpu_us_per_event"] = round((redis_cpu_s() - redis_cpu) * 1e6 / args.events, 1)
            report["local_events_per_s"] = round(args.events / local_s)
            report["redis_events_per_s"] = round(args.events / shared_s)
            report["ratio_local_over_redis"] = round(shared_s / local_s, 2)
            times = [await takeover(prefix + f"t{i}:", Path(tmp)) for i in range(args.takeovers)]
            if times:
                report["takeover_s"] = [round(t, 2) for t in times]
    finally:
        cleanup(prefix)
    return report


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = anyio.run(main, args)
    print(f"append, {report['events']} events to one call's log (until each is numbered and back in the log):")
    print(f"  local JSONL journal : {report['local_events_per_s']:>9,} events/s")
    print(f"  Redis stream        : {report['redis_events_per_s']:>9,} events/s")
    print(f"  ratio local / Redis : {report['ratio_local_over_redis']}x")
    print(f"  Redis server CPU    : {report['redis_cpu_us_per_event']} µs per event")
    if "takeover_s" in report:
        print(f"takeover after SIGKILL of the listening replica (lease 6 s): {report['takeover_s']} s")
    print(json.dumps(report))


if __name__ == "__main__":
    run()
