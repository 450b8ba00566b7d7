"""Each call's event log as a capped Redis Stream, numbered by Redis so replicas never collide.

Events are appended by one Lua script per flush, atomically: for each call in the batch it gives each event
the call's next ``seq`` (a counter), adds it to the call's stream under the id ``<seq>-0`` (``XADD … MAXLEN ~
cap``: Redis itself refuses an id that is not above the stream's top, so a duplicate seq cannot exist), and it
publishes everything it numbered as one message on the events channel, from which every replica (the
appending one included) takes it into its logs. So ``seq`` is strictly increasing with no duplicate whichever
replica appends, and all replicas agree on it.

Appends are synchronous and never block (:meth:`EventStreams.submit` queues); a task flushes the queue, one
script call per batch whatever the number of calls in it (a flush waits ``_GATHER_S`` for company first).
When Redis does not answer, events stay queued (bounded: the oldest beyond ``max_queued`` are dropped and
counted) and the batch is retried with backoff. A retried batch cannot add
an event twice: each event carries its writer's id and a per-writer counter, and the script skips one it has
already applied. If Redis lost its data (a restart without persistence), the ``floor`` an appender passes
(the last seq it knows) keeps seqs above everything readers have seen.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import anyio
from redis.exceptions import NoScriptError

from vapi_mcp.store.base import JournalScan
from vapi_mcp.store.journal import parse_record
from vapi_mcp.store.shared.link import REDIS_ERRORS, Backoff, RedisLink

__all__ = ["DEFAULT_CAP", "EventStreams", "StreamJournal", "parse_published", "parse_record"]

log = logging.getLogger(__name__)

DEFAULT_CAP = 100_000
"""Events kept per call stream (approximately: ``MAXLEN ~`` keeps at least this many)."""

_BATCH = 256
_GATHER_S = 0.05  # a flush waits this long for more events: fewer, fuller round trips (50 ms before numbering)
# One call per flush: KEYS = the writer's hash, then (stream, counter) per call; ARGV = cap, channel, then per
# call: call id, floor, event count, and (uid, at, type, data) per event. Publishes one message: for each call
# with new events "@<call id>" and its numbered lines, newline-separated (JSON lines never start with "@").
_APPEND = """
local out = {}
local a = 3
for k = 2, #KEYS, 2 do
  local call = ARGV[a]
  local floor = tonumber(ARGV[a + 1])
  local n = tonumber(ARGV[a + 2])
  a = a + 3
  local done = tonumber(redis.call('HGET', KEYS[1], call) or '0')
  local seq = tonumber(redis.call('GET', KEYS[k + 1]) or '0')
  if seq == 0 then
    local top = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)
    if #top > 0 then seq = tonumber(string.match(top[1][1], '^(%d+)')) end
  end
  if seq < floor then seq = floor end
  local lines = {}
  for i = a, a + 4 * n - 1, 4 do
    local uid = tonumber(ARGV[i])
    if uid > done then
      seq = seq + 1
      local line = '{"seq":' .. seq .. ',"at":"' .. ARGV[i + 1] .. '","type":' .. ARGV[i + 2]
      line = line .. ',"data":' .. ARGV[i + 3] .. '}'
      redis.call('XADD', KEYS[k], 'MAXLEN', '~', ARGV[1], seq .. '-0', 'e', line)
      lines[#lines + 1] = line
      done = uid
    end
  end
  a = a + 4 * n
  if #lines > 0 then
    redis.call('SET', KEYS[k + 1], seq)
    redis.call('HSET', KEYS[1], call, done)
    out[#out + 1] = '@' .. call .. '\\n' .. table.concat(lines, '\\n')
  end
end
if #out > 0 then
  redis.call('PEXPIRE', KEYS[1], 86400000)
  redis.call('PUBLISH', ARGV[2], table.concat(out, '\\n'))
end
return #out
"""


@dataclass(frozen=True, slots=True)
class _Pending:
    call_id: str
    at: str
    type_json: str
    data_json: str
    floor: int
    uid: int


def parse_published(payload: bytes) -> list[tuple[str, list[dict[str, Any]]]]:
    """A message of the events channel: each call's id and its numbered events, in order."""
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for line in payload.split(b"\n"):
        if line.startswith(b"@"):
            out.append((line[1:].decode(errors="replace"), []))
        elif out and (record := parse_record(line)) is not None:
            out[-1][1].append(record)
    return out


class EventStreams:
    """Every call's event stream on one Redis: queued appends, a flusher task, and reads."""

    def __init__(
        self,
        link: RedisLink,
        *,
        cap: int = DEFAULT_CAP,
        max_queued: int = 100_000,
        on_recovered: Callable[[float, int], None] | None = None,
    ) -> None:
        self.link = link
        self.cap = cap
        self.max_queued = max_queued
        self.channel = link.key("events")
        # Per process, not per replica id: a replica restarted under the same id counts its uids from 1 again.
        self._writer = link.key("writer", link.replica, secrets.token_hex(4))
        self._sha = hashlib.sha1(_APPEND.encode()).hexdigest()  # what Redis names the script once loaded
        self._queue: deque[_Pending] = deque()
        self._uid = 0
        self._wakeup = anyio.Event()
        self.dropped = 0  # events dropped because the queue overflowed while Redis was down
        self.appended = 0
        self._on_recovered = on_recovered

    def stream_key(self, call_id: str) -> str:
        return self.link.key("events", call_id)

    def _seq_key(self, call_id: str) -> str:
        return self.link.key("seq", call_id)

    # ------------------------------------------------------------------ writing
    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, call_id: str, at: str, type_json: str, data_json: str, floor: int) -> None:
        """Queue one event for the call's stream; never blocks, never raises."""
        self._uid += 1
        if len(self._queue) >= self.max_queued:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("Redis unreachable and %d events queued: dropped %d so far", self.max_queued, self.dropped)
        self._queue.append(_Pending(call_id, at, type_json, data_json, floor, self._uid))
        self._wakeup.set()

    async def run(self) -> None:
        """Flush the queue for ever (a task of the replica's task group)."""
        backoff = Backoff()
        failed_since: float | None = None  # this loop's own outage (another loop may see Redis back first)
        while True:
            if not self._queue:
                await self._wakeup.wait()
                self._wakeup = anyio.Event()
                await anyio.sleep(_GATHER_S)
                continue
            batch = [self._queue[i] for i in range(min(_BATCH, len(self._queue)))]
            delayed = len(self._queue)
            try:
                await self._flush(batch)
            except REDIS_ERRORS as exc:
                self.link.failed("appending events", exc)
                failed_since = failed_since or time.monotonic()
                await anyio.sleep(backoff.next())
                continue
            for _ in batch:
                self._queue.popleft()
            self.appended += len(batch)
            backoff.reset()
            self.link.succeeded()
            if failed_since is not None and self._on_recovered is not None:
                self._on_recovered(time.monotonic() - failed_since, delayed)
            failed_since = None

    async def _flush(self, batch: list[_Pending]) -> None:
        by_call: dict[str, list[_Pending]] = {}
        for p in batch:
            by_call.setdefault(p.call_id, []).append(p)
        try:
            await self._append(by_call)
        except NoScriptError:  # Redis restarted or flushed its scripts: load it, run the batch again (idempotent)
            self._sha = await self.link.aio.script_load(_APPEND)  # pyright: ignore[reportUnknownMemberType]
            await self._append(by_call)

    async def _append(self, by_call: dict[str, list[_Pending]]) -> None:
        keys = [self._writer]
        args: list[str | int] = [self.cap, self.channel]
        for call_id, events in by_call.items():
            keys += [self.stream_key(call_id), self._seq_key(call_id)]
            args += [call_id, events[-1].floor, len(events)]
            for p in events:
                args += [p.uid, p.at, p.type_json, p.data_json]
        await self.link.aio.evalsha(self._sha, len(keys), *keys, *args)  # pyright: ignore[reportUnknownMemberType]

    # ------------------------------------------------------------------ reading
    async def last_seq(self, call_id: str) -> int:
        top = await self.link.aio.xrevrange(self.stream_key(call_id), "+", "-", count=1)
        return _seq_of(top[0][0]) if top else 0

    async def counters(self, call_ids: list[str]) -> dict[str, int]:
        """The seq each call's log has reached in Redis (its counter), for many calls in one round trip."""
        if not call_ids:
            return {}
        values = await self.link.aio.mget([self._seq_key(call_id) for call_id in call_ids])
        return {call_id: int(v) if v is not None else 0 for call_id, v in zip(call_ids, values, strict=True)}

    def last_seq_now(self, call_id: str) -> int:
        """The stream's last seq from the synchronous path (0 when empty or when Redis does not answer)."""
        try:
            top = self.link.sync.xrevrange(self.stream_key(call_id), "+", "-", count=1)
        except REDIS_ERRORS as exc:
            self.link.failed("opening an event log", exc)
            return 0
        return _seq_of(top[0][0]) if top else 0

    async def read(self, call_id: str, after: int, count: int = 1000) -> list[dict[str, Any]]:
        """Events with seq > ``after`` (up to ``count``), in order: a replica catching up after a gap."""
        entries = await self.link.aio.xrange(self.stream_key(call_id), f"{after + 1}-0", "+", count=count)
        return _records(entries)

    def scan(
        self, call_id: str, after: int, until: int, *, types: frozenset[str] | None, limit: int, budget: int
    ) -> JournalScan:
        """The :class:`~vapi_mcp.store.base.Journal` scan over the stream (sync client; raises OSError when
        Redis cannot answer, which the event log reports and survives)."""
        records: list[dict[str, Any]] = []
        cursor = after
        while cursor < until:
            try:
                entries = self.link.sync.xrange(
                    self.stream_key(call_id), f"{cursor + 1}-0", f"{until}-0", count=min(1000, budget)
                )
            except REDIS_ERRORS as exc:
                self.link.failed("reading an event log", exc)
                raise OSError(f"Redis unreachable ({type(exc).__name__})") from None
            if not entries:
                break
            for record in _records(entries):
                cursor = record["seq"]
                if types is None or record.get("type") in types:
                    records.append(record)
                    if len(records) >= limit:
                        return JournalScan(records, cursor, False)
                budget -= 1
                if budget <= 0:
                    return JournalScan(records, cursor, False)
        return JournalScan(records, until, True)


class StreamJournal:
    """One call's stream as a :class:`~vapi_mcp.store.base.Journal` for reading back (appends go through
    :meth:`EventStreams.submit`, numbered by Redis). ``last_seq`` is what the call's log has taken in;
    ``first_seq`` is the oldest seq the capped stream is sure to hold."""

    def __init__(self, streams: EventStreams, call_id: str, last_seq: int = 0) -> None:
        self._streams = streams
        self._call_id = call_id
        self._last = last_seq

    @property
    def first_seq(self) -> int:
        return max(1, self._last - self._streams.cap + 1)

    @property
    def last_seq(self) -> int:
        return self._last

    def held(self, seq: int) -> None:
        """The log took in ``seq`` (the stream holds it)."""
        self._last = max(self._last, seq)

    def append(self, seq: int, at: str, type_json: str, data_json: str) -> None:
        """Unused: a shared log submits to Redis, which numbers the event."""

    def scan(self, after: int, until: int, *, types: frozenset[str] | None, limit: int, budget: int) -> JournalScan:
        return self._streams.scan(self._call_id, after, until, types=types, limit=limit, budget=budget)

    def close(self) -> None:
        return None


def _seq_of(entry_id: bytes | str | None) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-", 1)[0])


def _records(entries: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _entry_id, fields in cast("list[tuple[Any, dict[bytes, bytes] | None]]", entries or []):
        raw = (fields or {}).get(b"e")
        record = parse_record(raw) if raw is not None else None
        if record is not None:
            out.append(record)
    return out
