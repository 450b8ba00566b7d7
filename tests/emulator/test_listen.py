"""The listen WebSocket: real-time 20 ms stereo frames, format frame, odd sizes, transcripts, close codes, drops."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from tests.emulator.common import KEY, PUBLIC, emulator_options
from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator

FRAME = 1280  # 20 ms of 16 kHz stereo s16le


def connect(url: str, **kwargs: Any) -> Any:
    """A listen socket that never pauses reading: a client that stops reading (a full ``max_queue``) cannot see
    the server's close frame, so its own close() would wait for ``close_timeout`` (10 s) instead."""
    return ws_connect(url, max_queue=None, close_timeout=2, **kwargs)


def options(**overrides: Any) -> EmulatorOptions:
    return emulator_options("quick", **overrides)


class Calls:
    """A tiny REST + control helper bound to one emulator."""

    def __init__(self, emu: Emulator, http: httpx2.AsyncClient) -> None:
        self.emu, self.http = emu, http

    async def create(self, **body: Any) -> dict[str, Any]:
        payload = {"assistantId": "asst-1", "customer": {"number": "+14155550123"}, **body}
        response = await self.http.post("/call", json=payload)
        assert response.status_code == 201, response.text
        return response.json()

    async def wait_status(self, call: dict[str, Any], status: str) -> None:
        while self.emu.view(call["id"])["status"] != status:
            await anyio.sleep(0.005)

    async def control(self, call: dict[str, Any], body: dict[str, Any]) -> None:
        response = await self.http.post(call["monitor"]["controlUrl"], json=body)
        assert response.status_code == 200, response.text


@pytest.fixture
async def calls_factory() -> AsyncIterator[Any]:
    stack: list[Any] = []

    async def make(**overrides: Any) -> Calls:
        emu_cm = running_emulator(options(**overrides))
        emu = await emu_cm.__aenter__()
        http = httpx2.AsyncClient(base_url=str(emu.base_url), headers={"Authorization": f"Bearer {KEY}"})
        stack.append((emu_cm, http))
        return Calls(emu, http)

    yield make
    for emu_cm, http in reversed(stack):
        await http.aclose()
        await emu_cm.__aexit__(None, None, None)


async def drain(ws: ClientConnection) -> tuple[list[bytes | str], int | None, bool]:
    """Every message until the socket closes; returns (messages, close code, closed abnormally)."""
    messages: list[bytes | str] = []
    try:
        while True:
            messages.append(await ws.recv())
    except ConnectionClosedError as closed:
        return messages, ws.close_code, closed.rcvd is None
    except ConnectionClosed:
        return messages, ws.close_code, False


async def test_frames_are_1280_bytes_paced_in_real_time(calls_factory: Any) -> None:
    with anyio.fail_after(10):
        calls = await calls_factory(scenario="support-call", time_scale=1.0, ring_s=0.0, answer_s=0.0)
        call = await calls.create()
        async with connect(call["monitor"]["listenUrl"]) as ws:
            while not isinstance(first := await ws.recv(), bytes):
                pass
            started = time.monotonic()
            sizes, gaps, last = [len(first)], [], started
            while last - started < 1.0:
                message = await ws.recv()
                if isinstance(message, bytes):  # text frames (speech-update, transcript) are interleaved
                    now = time.monotonic()
                    sizes.append(len(message))
                    gaps.append(now - last)
                    last = now
            elapsed = last - started
        assert set(sizes) == {FRAME}
        rate = (len(sizes) - 1) * 0.020 / elapsed  # seconds of audio per second of wall time
        assert 0.85 <= rate <= 1.15, f"{len(sizes)} frames in {elapsed:.3f}s: rate {rate:.3f}"
        assert sorted(gaps)[len(gaps) // 2] == pytest.approx(0.020, abs=0.005)  # one frame per message, paced


async def test_whole_call_transcripts_and_close_1000(calls_factory: Any) -> None:
    with anyio.fail_after(10):
        calls = await calls_factory(ring_s=4.0)  # connect while ringing: the stream starts at call second 0
        call = await calls.create()
        async with connect(call["monitor"]["listenUrl"]) as ws:
            assert calls.emu.view(call["id"])["status"] in ("queued", "ringing")
            messages, code, abnormal = await drain(ws)
        assert code == 1000 and not abnormal
        audio = [m for m in messages if isinstance(m, bytes)]
        texts = [json.loads(m) for m in messages if isinstance(m, str)]
        assert all(len(m) == FRAME for m in audio)
        duration = calls.emu.calls[call["id"]].scenario.duration_s
        assert abs(len(audio) * 0.020 - duration) <= 0.1
        finals = [
            (t["role"], t["transcript"]) for t in texts if t["type"] == "transcript" and t["transcriptType"] == "final"
        ]
        assert finals == calls.emu.ground_truth(call["id"]).transcripts
        assert {t["type"] for t in texts} >= {"speech-update", "transcript"}
        view = calls.emu.view(call["id"])
        assert view["status"] == "ended" and view["endedReason"] == "customer-ended-call"
        assert ("GET", "/{token}/{id}/listen", 101) in [(r.method, r.path, r.status) for r in calls.emu.request_log]


async def test_format_frame_comes_first(calls_factory: Any) -> None:
    with anyio.fail_after(10):
        calls = await calls_factory(format_frame=True)
        call = await calls.create()
        async with connect(call["monitor"]["listenUrl"]) as ws:
            first, second = await ws.recv(), await ws.recv()
        assert isinstance(first, str) and isinstance(second, bytes)
        assert json.loads(first) == {
            "type": "start",
            "encoding": "linear16",
            "container": "raw",
            "sampleRate": 16000,
            "channels": 2,
        }


async def test_odd_message_sizes_still_carry_the_whole_stream(calls_factory: Any) -> None:
    with anyio.fail_after(10):
        calls = await calls_factory(odd_sizes=True, ring_s=4.0)
        call = await calls.create()
        async with connect(call["monitor"]["listenUrl"]) as ws:
            messages, code, _ = await drain(ws)
        sizes = [len(m) for m in messages if isinstance(m, bytes)]
        assert code == 1000
        assert any(size % 4 for size in sizes) and set(sizes) != {FRAME}
        total = sum(sizes)
        assert total % 4 == 0  # whole stereo samples in all: only the message boundaries are odd
        assert abs(total / 64000 - calls.emu.calls[call["id"]].scenario.duration_s) <= 0.1


async def test_mute_silences_that_channel(calls_factory: Any) -> None:
    with anyio.fail_after(10):
        calls = await calls_factory(ring_s=4.0)
        call = await calls.create()
        await calls.control(call, {"type": "control", "control": "mute-customer"})
        async with connect(call["monitor"]["listenUrl"]) as ws:
            messages, _, _ = await drain(ws)
        pcm = np.frombuffer(b"".join(m for m in messages if isinstance(m, bytes)), dtype="<i2").reshape(-1, 2)

        def dbfs(channel: int, start_s: float, end_s: float) -> float:
            part = pcm[int(start_s * 16000) : int(end_s * 16000), channel].astype(np.float64)
            return float(20 * np.log10(np.sqrt(np.mean(part**2)) / 32768))

        assert dbfs(0, 1.9, 3.1) < -45  # the customer talks here (quick scenario), but is muted
        assert dbfs(1, 0.3, 1.3) > -35  # the assistant is heard
        assert calls.emu.ground_truth(call["id"]).parties["customer"].talk_s == 0


async def test_drop_is_abnormal_once_and_a_reconnect_hears_the_call_go_on(calls_factory: Any) -> None:
    with anyio.fail_after(10):
        calls = await calls_factory(scenario="open-ended", time_scale=10.0, drop_socket_at_s=1.0, ring_s=2.0)
        call = await calls.create()
        async with connect(call["monitor"]["listenUrl"]) as ws:
            messages, code, abnormal = await drain(ws)
        assert abnormal and code == 1006  # no close frame: the TCP connection was just dropped
        assert 0.9 <= sum(len(m) for m in messages if isinstance(m, bytes)) / 64000 <= 1.1
        assert calls.emu.view(call["id"])["status"] == "in-progress" and calls.emu.view(call["id"])["dropped"]
        async with connect(call["monitor"]["listenUrl"]) as ws:
            heard = 0
            while heard < 20:
                heard += isinstance(await ws.recv(), bytes)
            await calls.control(call, {"type": "end-call"})
            _, code, abnormal = await drain(ws)
        assert code == 1000 and not abnormal  # the drop happened once only


async def test_several_listeners_and_a_late_joiner_hears_from_now(calls_factory: Any) -> None:
    with anyio.fail_after(10):
        calls = await calls_factory(scenario="open-ended", time_scale=10.0)
        call = await calls.create()
        await calls.wait_status(call, "in-progress")
        await anyio.sleep(0.3)  # nobody listens, yet the conversation goes on
        position = calls.emu.view(call["id"])["position_s"]
        assert position >= 1.5
        async with connect(call["monitor"]["listenUrl"]) as one, connect(call["monitor"]["listenUrl"]) as two:
            a, b = await one.recv(), await two.recv()
            assert isinstance(a, bytes) and isinstance(b, bytes)
            assert calls.emu.view(call["id"])["listeners"] == 2
        while calls.emu.view(call["id"])["listeners"]:
            await anyio.sleep(0.01)
        truth = calls.emu.ground_truth(call["id"])
        assert truth.duration_s >= position


async def test_listen_authentication_requires_the_public_key(calls_factory: Any) -> None:
    with anyio.fail_after(10):
        calls = await calls_factory(scenario="open-ended")
        call = await calls.create(assistantOverrides={"monitorPlan": {"listenAuthenticationEnabled": True}})
        for headers in ({}, {"Authorization": f"Bearer {KEY}"}):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(call["monitor"]["listenUrl"], additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 401
            assert json.loads(refused.value.response.body)["error"] == "Unauthorized"
        async with connect(
            call["monitor"]["listenUrl"], additional_headers={"Authorization": f"Bearer {PUBLIC}"}
        ) as ws:
            assert isinstance(await ws.recv(), bytes)


async def test_unknown_token_and_ended_call_are_refused_with_404(calls_factory: Any) -> None:
    with anyio.fail_after(10):
        calls = await calls_factory(scenario="open-ended")
        call = await calls.create()
        url = call["monitor"]["listenUrl"]
        forged = url.replace(url.split("/")[3], "y" * 24)
        for target in (forged, url.replace(call["id"], "7420f27a-30fd-4f49-a995-5549ae7cc00d")):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(target):
                    pass
            assert refused.value.response.status_code == 404
        await calls.control(call, {"type": "end-call"})
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url):
                pass
        assert refused.value.response.status_code == 404


async def test_shutdown_closes_listeners_with_1001() -> None:
    with anyio.fail_after(10):
        result: dict[str, Any] = {}
        async with anyio.create_task_group() as group:
            async with (
                running_emulator(options(scenario="open-ended")) as emu,
                httpx2.AsyncClient(base_url=str(emu.base_url), headers={"Authorization": f"Bearer {KEY}"}) as http,
            ):
                call = (
                    await http.post("/call", json={"assistantId": "a", "customer": {"number": "+14155550123"}})
                ).json()
                ws = await connect(call["monitor"]["listenUrl"])
                assert isinstance(await ws.recv(), bytes)

                async def consume() -> None:
                    result["messages"], result["code"], result["abnormal"] = await drain(ws)

                group.start_soon(consume)
                started = time.monotonic()
            assert time.monotonic() - started < 2.0
        assert result["code"] == 1001 and not result["abnormal"]
