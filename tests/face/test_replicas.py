"""Three replicas sharing one fleet through the real Redis server (DESIGN §13): server processes over HTTP on
loopback, driven by the SDK's own Client, against the emulator. The replica that listens is killed with
SIGKILL: another takes the call over within 10 s (default lease), logs ``listen.gap`` and listens again; seqs
stay strictly increasing with no duplicate; clients on the survivors keep hearing; control works anywhere.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ResourceUpdatedNotification

from tests.conftest import API_KEY, REDIS_URL
from tests.face.test_transports import TOKEN, _child_env, _free_port  # pyright: ignore[reportPrivateUsage]
from tests.helpers import call_ok, create_call, wait_status
from vapi_mcp.emulator import Emulator, EmulatorOptions

pytestmark = pytest.mark.slow


@pytest.fixture
def emulator_options() -> EmulatorOptions:
    """Real time, and a call that keeps talking for a minute: there is speech to hear after the takeover."""
    return EmulatorOptions(api_key=API_KEY, scenario="long-call", time_scale=1.0)


@dataclass
class Replica:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def logged(self) -> str:
        return self.log.read_text(errors="replace")


def _start(emulator: Emulator, tmp_path: Path, prefix: str, name: str) -> Replica:
    port = _free_port()
    data = tmp_path / name
    data.mkdir()
    env = _child_env(
        emulator,
        data,
        VAPI_MCP_HTTP_TOKEN=TOKEN,
        VAPI_MCP_REDIS_URL=REDIS_URL,
        VAPI_MCP_REDIS_PREFIX=prefix,
        VAPI_MCP_REPLICA_ID=name,
    )
    log = tmp_path / f"{name}.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vapi_mcp", "--transport", "http", "--port", str(port), "--log-level", "INFO"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return Replica(name, f"http://127.0.0.1:{port}/mcp", proc, log)


def _wait_listening(replica: Replica) -> None:
    port = int(replica.url.rsplit(":", 1)[1].split("/")[0])
    import socket

    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return
        except OSError:
            if replica.proc.poll() is not None:
                raise RuntimeError(f"replica {replica.name} died:\n{replica.logged()}") from None
            time.sleep(0.05)
    raise RuntimeError(f"replica {replica.name} did not start:\n{replica.logged()}")


@pytest.fixture
def replicas(emulator: Emulator, tmp_path: Path, redis_prefix: str) -> Iterator[list[Replica]]:
    started = [_start(emulator, tmp_path, redis_prefix, f"r{i}") for i in range(3)]
    try:
        for replica in started:
            _wait_listening(replica)
        yield started
    finally:
        for replica in started:
            if replica.proc.poll() is None:
                replica.proc.terminate()
        for replica in started:
            try:
                replica.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                replica.proc.kill()


async def _client(stack: AsyncExitStack, replica: Replica, mode: str, **kwargs: Any) -> Client:
    http = await stack.enter_async_context(
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30.0, read=300.0))
    )
    transport = streamable_http_client(replica.url, http_client=http)
    return await stack.enter_async_context(Client(transport, mode=mode, **kwargs))  # type: ignore[arg-type]


async def _all_seqs(client: Client, call_id: str) -> list[int]:
    seqs: list[int] = []
    after = 0
    while True:
        page = await call_ok(client, "get_call_events", {"call_id": call_id, "after_seq": after, "limit": 500})
        seqs += [e["seq"] for e in page["events"]]
        if not page["events"]:
            return seqs
        after = page["next_seq"]


async def _event(client: Client, call_id: str, kind: str, after: int, timeout_s: float) -> dict[str, Any]:
    args = {"call_id": call_id, "types": [kind], "after_seq": after, "timeout_s": timeout_s}
    waited = await call_ok(client, "wait_for_event", args)
    if not waited["matched"]:
        page = await call_ok(client, "get_call_events", {"call_id": call_id, "limit": 500})
        raise AssertionError(f"no {kind} event after seq {after} within {timeout_s} s: {waited} {page}")
    return waited["events"][0]


@pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")  # the legacy era on purpose
async def test_a_killed_listener_is_replaced_within_10_s(replicas: list[Replica], emulator: Emulator) -> None:
    owner, modern_side, legacy_side = replicas
    legacy_heard: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            legacy_heard.append(str(message.params.uri))

    with anyio.fail_after(90):
        async with AsyncExitStack() as stack:
            c0 = await _client(stack, owner, "auto")
            c1 = await _client(stack, modern_side, "auto")
            c2 = await _client(stack, legacy_side, "legacy", message_handler=on_message)
            call_id = await create_call(c0, listen=True)
            await wait_status(c1, call_id, "in-progress")  # r1 answers for a call r0 added
            events_uri = f"vapi://calls/{call_id}/events"
            await c2.subscribe_resource(events_uri)
            modern_heard: list[str] = []

            async def hear(stream: Any) -> None:
                async for event in stream:
                    modern_heard.append(getattr(event, "uri", ""))

            sub = await stack.enter_async_context(c1.listen(resource_subscriptions=[events_uri]))
            tasks = await stack.enter_async_context(anyio.create_task_group())
            tasks.start_soon(hear, sub)
            await _event(c1, call_id, "speech.started", 0, 20)
            while events_uri not in modern_heard or events_uri not in legacy_heard:
                await anyio.sleep(0.1)  # both survivors hear of what r0 ingests

            owner.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            owner.proc.wait()
            heard_before = (len(modern_heard), len(legacy_heard))

            gap = await _event(c1, call_id, "listen.gap", 0, 20)
            took = time.monotonic() - killed
            assert took < 10, f"the takeover took {took:.1f} s"
            await _event(c2, call_id, "listen.connected", gap["seq"], 10)
            await _event(c1, call_id, "speech.started", gap["seq"], 15)
            assert any("listen.gap" in r.logged() for r in (modern_side, legacy_side))

            said = await call_ok(c2, "say", {"call_id": call_id, "content": "from the legacy side"})
            assert said["type"] == "say"
            await call_ok(c1, "control_call", {"call_id": call_id, "action": "mute-customer"})
            assert "from the legacy side" in emulator.calls[call_id].said
            assert emulator.control_log(call_id)[-1].body == {"type": "control", "control": "mute-customer"}
            await _event(c2, call_id, "control.sent", gap["seq"], 5)

            while len(modern_heard) <= heard_before[0] or len(legacy_heard) <= heard_before[1]:
                await anyio.sleep(0.1)  # the survivors keep hearing after the kill
            for client in (c1, c2):
                seqs = await _all_seqs(client, call_id)
                assert seqs == sorted(set(seqs)) and seqs[0] == 1, "strictly increasing, no duplicate"
            assert await _all_seqs(c1, call_id) == await _all_seqs(c2, call_id)
            await call_ok(c1, "end_call", {"call_id": call_id})
            await wait_status(c2, call_id, "ended")
            tasks.cancel_scope.cancel()
