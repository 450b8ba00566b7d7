"""A real server process killed with SIGKILL mid-call, and a new one on the same data dir (DESIGN §13).

The server runs over streamable HTTP (its own process, so it can be killed like a crashed one; its stderr is a
pipe nobody reads, fine for the few lines a start logs), the emulator
in this process on loopback, and the SDK's own Client talks to each server in turn.
"""

from __future__ import annotations

import base64
import signal
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import API_KEY
from tests.face.test_transports import TOKEN, http_process
from tests.helpers import call_ok, create_call, read_json
from vapi_mcp.emulator import Emulator, EmulatorOptions

pytestmark = pytest.mark.slow


@pytest.fixture
def emulator_options() -> EmulatorOptions:
    """Turns all along (the server process takes a moment to start: a short script would be over)."""
    return EmulatorOptions(api_key=API_KEY, scenario="long:300", time_scale=4.0)


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,  # type: ignore[arg-type]
    ):
        yield client


async def summary_of(client: Client, call_id: str) -> dict[str, Any]:
    return await call_ok(client, "get_audio_summary", {"call_id": call_id})


async def all_events(client: Client, call_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        args = {"call_id": call_id, "after_seq": events[-1]["seq"] if events else 0, "limit": 500}
        page = (await call_ok(client, "get_call_events", args))["events"]
        if not page:
            return events
        events += page


def tear_as_a_crash_can(folder: Path) -> None:
    """The worst a kill can leave: half a journal line, and a WAV whose header sizes missed the last writes."""
    with open(folder / "events.jsonl", "ab") as journal:
        journal.write(b'{"seq":999999,"at":"2026-05-09T07:35:25.123Z","type":"speech.sta')
    with open(folder / "recording.wav", "r+b") as wav:
        wav.seek(4)
        wav.write(struct.pack("<I", 36))
        wav.seek(40)
        wav.write(struct.pack("<I", 0))


async def test_kill_9_mid_call_then_a_new_process_resumes_it(emulator: Emulator, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with anyio.fail_after(180):
        with http_process(emulator, data) as (first, url):
            async with connected(url) as client:
                call_id = await create_call(client, listen=True)
                while (before := await summary_of(client, call_id))["duration_s"] < 8.0:
                    await anyio.sleep(0.05)
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
        tear_as_a_crash_can(data / "calls" / call_id)
        heard = {party: before["parties"][party]["talk_s"] for party in ("customer", "assistant")}
        assert sum(heard.values()) > 3.0, str(before)

        with http_process(emulator, data) as (_, url):
            async with connected(url) as client:
                # Listed and readable without attach_call.
                listed = await read_json(client, "vapi://calls")
                assert call_id in {call["call_id"] for call in listed["calls"]}
                assert (await all_events(client, call_id))[0]["type"] == "call.status"
                wait = {"call_id": call_id, "types": ["listen.gap"], "after_seq": 0, "timeout_s": 30}
                while not (gap := await call_ok(client, "wait_for_event", wait))["matched"]:
                    pass  # listening resumed, and the audio missed is logged: under load, maybe after 30 s
                missed = gap["events"][0]["data"]
                assert missed["reason"] == "restart" and missed["gap_s"] > 0
                assert missed["from_s"] >= before["duration_s"] - 1.5, "the recording kept what was heard"
                while (after := await summary_of(client, call_id))["duration_s"] < missed["to_s"] + 1.0:
                    await anyio.sleep(0.05)
                # The summary covers all the audio, not only the second heard since the restart.
                for party in ("customer", "assistant"):
                    assert after["parties"][party]["talk_s"] >= heard[party] - 0.3
                assert sum(after["parties"][p]["talk_s"] for p in heard) >= sum(heard.values())
                assert after["listen_state"] == "connected"
                assert after["duration_s"] >= missed["to_s"]
                seqs = [event["seq"] for event in await all_events(client, call_id)]
                assert seqs == sorted(set(seqs)) and seqs[0] == 1, "strictly increasing, no duplicate"
                assert 999999 not in seqs, "the torn line was cut, not read"
                wav = await client.read_resource(f"vapi://calls/{call_id}/recording.wav")
                assert len(base64.b64decode(wav.contents[0].blob)) > 44 + 4 * 16000  # type: ignore[union-attr]
                await call_ok(client, "end_call", {"call_id": call_id})
