"""Idle calls: what 1,000 open calls with no audio cost the server in CPU and in REST requests to Vapi.

Issue 10: with one status poller per call (``GET /call/{id}`` every 2 s each), 1,000 open calls kept 40 % of
a core busy and sent Vapi about 500 requests a second. This bench measures the status upkeep alone:

1. the Vapi emulator runs in its own process (``vapi-mcp emulator``, scenario ``open-ended``: calls never
   end by themselves), so its CPU is not counted;
2. this process runs a :class:`~vapi_mcp.supervisor.CallSupervisor` (no MCP: the upkeep is the domain's)
   with a Vapi client whose transport counts every REST request, and creates ``--calls`` (1,000) calls with
   ``listen=false`` (no socket, no audio: only status upkeep is left);
3. once every call is ``in-progress`` and a few poll intervals have passed, it takes this process's CPU time
   from the OS (``getrusage``) and the request count over ``--seconds`` (20) of real time, and prints the CPU
   share of one core and the REST requests per second and per poll interval.

``--webhooks`` also serves ``POST /vapi/webhook`` in this process and has the emulator post status updates
there (``--server-url``), as Vapi does when the Server URL points at the server: statuses then come by
webhook and polling falls back to its slow safety net.

"Before" is the same run against the code before issue 10: put that checkout first on ``PYTHONPATH`` and run
this file as a script (it imports nothing from ``bench``)::

    git archive 0ef3aae vapi_mcp | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before python bench/idle_calls.py --label before

Everything is on 127.0.0.1, every wait is bounded, the emulator is stopped and the data directory (one
journal per call) removed at the end. ``--quick``: 20 calls, a 4 s window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx2

API_KEY = "bench-private-key-0123456789"
SECRET = "bench-webhook-secret-0123456789abcdef"
CUSTOMER = "+14155550123"


class CountingTransport(httpx2.AsyncHTTPTransport):
    """The Vapi client's transport, counting requests (all of them go to the emulator's REST API)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        return await super().handle_async_request(request)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _start_emulator(port: int, webhook_url: str | None) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "vapi_mcp", "emulator", "--port", str(port), "--api-key", API_KEY]
    args += ["--scenario", "open-ended"]
    if webhook_url:
        args += ["--server-url", webhook_url, "--server-secret", SECRET, "--server-messages", "status-update"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())


async def _wait_up(base_url: str) -> None:
    async with httpx2.AsyncClient() as http:
        with anyio.fail_after(30):
            while True:
                try:
                    await http.get(f"{base_url}/call", headers={"Authorization": f"Bearer {API_KEY}"})
                    return
                except httpx2.HTTPError:
                    await anyio.sleep(0.1)


async def _measure(opts: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from vapi_mcp.errors import VapiMcpError
    from vapi_mcp.settings import Settings
    from vapi_mcp.store.local import LocalStore
    from vapi_mcp.supervisor import CallSupervisor
    from vapi_mcp.vapi import VapiClient

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    webhook_port = _free_port() if opts.webhooks else None
    webhook_url = f"http://127.0.0.1:{webhook_port}/vapi/webhook" if webhook_port else None
    values: dict[str, Any] = {"api_key": API_KEY, "base_url": base_url, "data_dir": data_dir, "record": False}
    if opts.webhooks:
        values.update(webhook_secret=SECRET, webhook_port=webhook_port)
    settings = Settings.model_validate(values)
    emulator = _start_emulator(port, webhook_url)
    transport = CountingTransport()
    try:
        await _wait_up(base_url)
        client = VapiClient(API_KEY, base_url, transport=transport)
        async with client, anyio.create_task_group() as tasks:
            supervisor = CallSupervisor(settings, client, LocalStore(data_dir), tasks)
            if opts.webhooks:
                from vapi_mcp.face.notify import Notifier
                from vapi_mcp.face.state import AppState
                from vapi_mcp.face.webhook import webhook_server

                web = webhook_server(AppState(settings, Notifier(), supervisor), settings)
                tasks.start_soon(web.serve)
            limiter = anyio.CapacityLimiter(20)
            failed: list[str] = []

            async def create() -> None:
                async with limiter:
                    try:
                        await supervisor.create_call(customer_number=CUSTOMER, assistant_id="asst-bench", listen=False)
                    except VapiMcpError as exc:  # a loaded emulator may drop one: count it, measure the others
                        failed.append(type(exc).__name__)

            started = time.perf_counter()
            async with anyio.create_task_group() as creators:
                for _ in range(opts.calls):
                    creators.start_soon(create)
            with anyio.fail_after(60 + opts.calls * 0.05):
                # A remote status, seen by polls or webhooks: nothing to wait on but time.
                while any(sup.call.status != "in-progress" for sup in supervisor.calls.values()):  # noqa: ASYNC110
                    await anyio.sleep(0.2)
            ramp_s = time.perf_counter() - started
            await anyio.sleep(3 * settings.poll_interval_s)  # settle: every call past its first polls
            cpu0, req0, t0 = _cpu_s(), transport.requests, time.perf_counter()
            await anyio.sleep(opts.seconds)
            cpu1, req1, t1 = _cpu_s(), transport.requests, time.perf_counter()
            live = sum(not sup.ended for sup in supervisor.calls.values())
            tasks.cancel_scope.cancel()
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
    wall = t1 - t0
    requests = req1 - req0
    interval = settings.poll_interval_s
    return {
        "label": opts.label,
        "webhooks": opts.webhooks,
        "calls": opts.calls,
        "live_calls": live,
        "create_failures": len(failed),
        "window_s": round(wall, 2),
        "ramp_s": round(ramp_s, 1),
        "cpu_s": round(cpu1 - cpu0, 3),
        "cpu_share_of_core": round((cpu1 - cpu0) / wall, 4),
        "rest_requests": requests,
        "requests_per_s": round(requests / wall, 2),
        "requests_per_interval": round(requests / (wall / interval), 2),
        "poll_interval_s": interval,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--webhooks", action="store_true", help="statuses come by webhook (the intake runs)")
    parser.add_argument("--label", default="after")
    parser.add_argument("--quick", action="store_true", help="20 calls, a 4 s window")
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.calls, opts.seconds = min(opts.calls, 20), min(opts.seconds, 4.0)
    if opts.calls < 1 or opts.seconds <= 0:
        parser.error("--calls and --seconds must be positive")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="idle-calls-") as tmp:
        result = asyncio.run(_measure(opts, Path(tmp) / "data"))
    print(
        f"{result['label']} ({'webhooks' if result['webhooks'] else 'no webhooks'}): {result['calls']} idle calls, "
        f"{result['window_s']} s window: CPU {result['cpu_share_of_core']:.1%} of a core, "
        f"{result['requests_per_s']} REST requests/s ({result['requests_per_interval']} per "
        f"{result['poll_interval_s']:g} s interval), {result['live_calls']} calls live"
    )
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
