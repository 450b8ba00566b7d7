"""Two supervisors sharing one fleet through the real Redis server, in one process, against the emulator.

The process-level test (three server subprocesses, one killed) is tests/face/test_replicas.py; these check
the domain: any replica reads and steers any call, seqs agree, and a released lease is taken over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest

from tests.conftest import REDIS_URL, make_settings
from tests.helpers import CUSTOMER
from vapi_mcp.emulator import Emulator
from vapi_mcp.errors import RecordingUnavailable
from vapi_mcp.supervisor import CallSupervisor, running_supervisor


def shared(emulator: Emulator, tmp_path: Path, prefix: str, name: str) -> AsyncIterator[CallSupervisor]:
    settings = make_settings(
        emulator,
        tmp_path / name,
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        replica_id=name,
        lease_ttl_s=1.0,
    )
    return running_supervisor(settings)  # type: ignore[return-value]


async def until(predicate: object, timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await anyio.sleep(0.05)


def seqs(sup: CallSupervisor, call_id: str) -> list[int]:
    return [e.seq for e in sup.events(call_id, limit=10_000).events]


async def test_any_replica_reads_and_steers_any_call(emulator: Emulator, tmp_path: Path, redis_prefix: str) -> None:
    async with shared(emulator, tmp_path, redis_prefix, "a") as a, shared(emulator, tmp_path, redis_prefix, "b") as b:
        with anyio.fail_after(30):
            call_id = (await a.create_call(customer_number=CUSTOMER, assistant_id="asst-1")).call_id
            assert a.replicas is not None and a.replicas.owns(call_id)
            # b was never told: it finds the call in Redis when asked
            assert b.info(call_id).call_id == call_id
            waited = await b.wait_for_event(call_id, types=["speech.started"], after_seq=0, timeout_s=20)
            assert waited.matched, "b hears the events a ingests"
            result = await b.say(call_id, "hello from b")  # control from a replica that does not listen
            assert result.event_seq is None  # numbered by Redis, later
            await until(lambda: any(e.type == "control.sent" for e in a.events(call_id, limit=1000).events))
            assert "hello from b" in emulator.calls[call_id].said
            await until(lambda: seqs(a, call_id)[-5:] == seqs(b, call_id)[-5:])
            for sup in (a, b):
                got = seqs(sup, call_id)
                assert got == sorted(set(got)) and got[0] == 1, "strictly increasing, no duplicate"
            inbox = [e for e in b.inbox_events(limit=1000).events if e.data.get("call_id") == call_id]
            assert [e.type for e in inbox] == ["call.added"], "one shared inbox, the call added once"
            with pytest.raises(RecordingUnavailable, match="replica 'a'"):
                b.recording(call_id)
            assert a.recording(call_id)[:4] == b"RIFF"
            # Only the owner measures; it shares a call's summary once another replica asks (nobody had).
            assert a.replicas.fleet.get_now(call_id, "summary") == {}
            first = await b.audio_summary(call_id)  # b asks a, which pushes at once: the first read is live
            assert first.duration_s > 0 and first.listen_state == "connected"
            await anyio.sleep(2.5)  # a watched call's summary is pushed every second
            assert (await b.audio_summary(call_id)).duration_s >= first.duration_s + 1.0


async def test_a_released_lease_is_taken_over(emulator: Emulator, tmp_path: Path, redis_prefix: str) -> None:
    async with AsyncExitStack() as stack:
        b = await stack.enter_async_context(shared(emulator, tmp_path, redis_prefix, "b"))
        async with shared(emulator, tmp_path, redis_prefix, "a") as a:
            with anyio.fail_after(20):
                call_id = (await a.create_call(customer_number=CUSTOMER, assistant_id="asst-1")).call_id
                await a.wait_for_event(call_id, types=["speech.started"], after_seq=0, timeout_s=15)
                await until(lambda: call_id in b.calls)
        # a shut down (its leases released): b takes the call over, says so, and listens
        assert b.replicas is not None
        with anyio.fail_after(10):
            await until(lambda: b.replicas is not None and b.replicas.owns(call_id))
            # The takeover's gap; an earlier one may precede it (a's own socket dropped under a loaded machine,
            # seen once in CI: reason "stopped"), which is a's to report, not b's.
            after = 0
            while True:
                gap = await b.wait_for_event(call_id, types=["listen.gap"], after_seq=after, timeout_s=5)
                assert gap.matched, "b says it took over"
                takeovers = [e for e in gap.events if e.data["reason"] == "takeover"]
                if takeovers:
                    break
                after = gap.next_seq
            connected = await b.wait_for_event(
                call_id, types=["listen.connected"], after_seq=takeovers[0].seq, timeout_s=8
            )
            assert connected.matched, "b listens to the call now"
        got = seqs(b, call_id)
        assert got == sorted(set(got))


class RedisCut:
    """A TCP proxy in front of the test Redis that a test cuts (every connection dropped, none accepted) and
    opens again: Redis going away mid-call, as far as a replica can tell."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{REDIS_URL.rsplit('/', 1)[1]}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = REDIS_URL.removeprefix("redis://").split("/")[0].split(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        self._writers |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


async def test_redis_down_mid_call_serves_what_it_holds_and_says_so(
    emulator: Emulator, tmp_path: Path, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = RedisCut()
    await proxy.open()
    settings = make_settings(
        emulator, tmp_path / "a", redis_url=proxy.url, redis_prefix=redis_prefix, replica_id="a", lease_ttl_s=1.0
    )
    async with running_supervisor(settings) as a:
        with anyio.fail_after(40):
            call_id = (await a.create_call(customer_number=CUSTOMER, assistant_id="asst-1")).call_id
            await a.wait_for_event(call_id, types=["speech.started"], after_seq=0, timeout_s=15)
            await proxy.cut()
            await anyio.sleep(2.5)  # Redis gone: listening goes on, events queue
            assert a.info(call_id).status == "in-progress", "what it holds is still served"
            assert a.events(call_id, limit=1000).events, "the events it holds are still read"
            assert a.replicas is not None and not a.replicas.link.up
            await proxy.open()
            back = await a.wait_for_event(call_id, types=["store.unavailable"], after_seq=0, timeout_s=20)
            assert back.matched and back.events[0].data["down_s"] >= 2
            seqs = [e.seq for e in a.events(call_id, limit=10_000).events]
            assert seqs == sorted(set(seqs)), "strictly increasing, no duplicate"
    messages = [r.getMessage() for r in caplog.records]
    assert any("Redis unreachable" in m for m in messages) and any("Redis reachable again" in m for m in messages)
    assert proxy.url not in caplog.text
