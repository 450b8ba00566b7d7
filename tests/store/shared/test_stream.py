"""Event streams on the real Redis: numbering across writers, retries, data loss, reads, and Redis down."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from tests.store.shared.helpers import DEAD_URL, linked
from vapi_mcp.store.journal import JsonlJournal
from vapi_mcp.store.shared.stream import EventStreams, StreamJournal

TYPES = ["speech.started", "transcript", "silence"]


async def drain(streams: EventStreams) -> None:
    with anyio.fail_after(5):
        while streams.queued:
            await anyio.sleep(0.01)


async def stream_seqs(streams: EventStreams, call_id: str) -> list[int]:
    return [r["seq"] for r in await streams.read(call_id, 0, count=10_000)]


async def test_two_writers_never_share_a_seq(redis_prefix: str) -> None:
    async with linked(redis_prefix, "a") as la, linked(redis_prefix, "b") as lb, anyio.create_task_group() as tg:
        a, b = EventStreams(la), EventStreams(lb)
        tg.start_soon(a.run)
        tg.start_soon(b.run)
        for i in range(300):
            (a if i % 3 else b).submit("c1", "2026-01-01T00:00:00.000Z", '"transcript"', json.dumps({"i": i}), 0)
        await drain(a)
        await drain(b)
        seqs = await stream_seqs(a, "c1")
        assert seqs == list(range(1, 301)), "strictly increasing, no duplicate, none lost"
        assert await a.last_seq("c1") == 300 == a.last_seq_now("c1")
        tg.cancel_scope.cancel()


async def test_a_retried_batch_is_applied_once(redis_prefix: str) -> None:
    async with linked(redis_prefix, "a") as link:
        streams = EventStreams(link)
        for i in range(5):
            streams.submit("c1", "2026-01-01T00:00:00.000Z", '"x"', json.dumps({"i": i}), 0)
        batch = list(streams._queue)  # pyright: ignore[reportPrivateUsage]
        await streams._flush(batch)  # pyright: ignore[reportPrivateUsage]
        await streams._flush(batch)  # the connection dropped after Redis applied it: the flusher retries  # pyright: ignore[reportPrivateUsage]
        assert [r["data"]["i"] for r in await streams.read("c1", 0)] == [0, 1, 2, 3, 4]


async def test_seqs_stay_above_what_readers_saw_after_redis_lost_its_data(redis_prefix: str) -> None:
    async with linked(redis_prefix, "a") as link:
        streams = EventStreams(link)
        streams.submit("c1", "2026-01-01T00:00:00.000Z", '"x"', "{}", 0)
        await streams._flush(list(streams._queue))  # pyright: ignore[reportPrivateUsage]
        await link.aio.delete(streams.stream_key("c1"), link.key("seq", "c1"))  # a restart without persistence
        streams._queue.clear()  # pyright: ignore[reportPrivateUsage]
        streams.submit("c1", "2026-01-01T00:00:01.000Z", '"x"', "{}", 41)  # the log had seen up to 41
        await streams._flush(list(streams._queue))  # pyright: ignore[reportPrivateUsage]
        assert await stream_seqs(streams, "c1") == [42]


async def test_a_stream_reads_like_a_jsonl_journal(redis_prefix: str, tmp_path: Path) -> None:
    async with linked(redis_prefix, "a") as link:
        streams = EventStreams(link)
        local = JsonlJournal(tmp_path / "events.jsonl")
        for seq in range(1, 201):
            kind, data = json.dumps(TYPES[seq % 3]), json.dumps({"n": seq})
            streams.submit("c1", "2026-01-01T00:00:00.000Z", kind, data, 0)
            local.append(seq, "2026-01-01T00:00:00.000Z", kind, data)
        await streams._flush(list(streams._queue))  # pyright: ignore[reportPrivateUsage]
        shared = StreamJournal(streams, "c1", last_seq=200)
        assert (shared.first_seq, shared.last_seq) == (1, 200)
        for after, until, types, limit, budget in [
            (0, 200, None, 50, 1000),
            (10, 150, frozenset({"transcript"}), 1000, 1000),
            (0, 200, frozenset({"silence"}), 7, 1000),
            (5, 200, None, 1000, 30),
        ]:
            want = local.scan(after, until, types=types, limit=limit, budget=budget)
            got = shared.scan(after, until, types=types, limit=limit, budget=budget)
            assert got == want


async def test_redis_down_queues_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    async with linked("vapi-mcp-test-dead:", "a", url=DEAD_URL) as link, anyio.create_task_group() as tg:
        streams = EventStreams(link, max_queued=3)
        tg.start_soon(streams.run)
        for i in range(5):
            streams.submit("c1", "2026-01-01T00:00:00.000Z", '"x"', json.dumps({"i": i}), 0)
        await anyio.sleep(0.5)
        assert not link.up and streams.queued == 3 and streams.dropped == 2
        with pytest.raises(OSError, match="Redis unreachable"):
            streams.scan("c1", 0, 10, types=None, limit=10, budget=10)
        assert streams.last_seq_now("c1") == 0
        assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
        assert DEAD_URL not in caplog.text
        tg.cancel_scope.cancel()


async def test_appends_go_on_after_redis_forgot_the_script(redis_prefix: str) -> None:
    """A Redis restarted (or SCRIPT FLUSHed) no longer knows the append script: it is loaded again, and the
    batch that met NOSCRIPT is applied once (other tests' appends recover the same way)."""
    async with linked(redis_prefix, "a") as link:
        streams = EventStreams(link)
        streams.submit("c1", "2026-01-01T00:00:00.000Z", '"x"', "{}", 0)
        await streams._flush(list(streams._queue))  # pyright: ignore[reportPrivateUsage]
        streams._queue.clear()  # pyright: ignore[reportPrivateUsage]
        await link.aio.script_flush()  # pyright: ignore[reportUnknownMemberType]
        streams.submit("c1", "2026-01-01T00:00:01.000Z", '"x"', "{}", 0)
        await streams._flush(list(streams._queue))  # pyright: ignore[reportPrivateUsage]
        assert await stream_seqs(streams, "c1") == [1, 2]
