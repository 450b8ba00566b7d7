"""One event log per supervised call: ``seq``-ordered, bounded in memory, journaled to JSONL.

Agents page through a call's events with a cursor (``after_seq`` → ``next_seq``), possibly long after they
happened, so the log keeps two stores:

- the last ``window`` events in memory (a deque), which serves live readers and ``wait_for_event``;
- an append-only JSONL journal (one ``{"seq","at","type","data"}`` object per line), from which anything
  older is read back. Lines are written with one unbuffered ``write`` each, so a killed process loses at
  most the line being written; no ``fsync`` (too slow per speech event; the OS page cache survives a crash
  of the process). The journal is found again by *binary search over byte offsets* (seq increases along the
  file), so no index is kept and memory stays constant however long the call.

Without a journal, events that slid out of the window are gone; :class:`EventPage.dropped_before` says so
rather than pretending the page is complete. Reopening a journal (process restart) continues its ``seq``.

The log is synchronous and meant to be used from one thread (the event loop); it never blocks on anything
but a local file write.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from vapi_mcp.errors import InvalidInput
from vapi_mcp.listen.eventdata import MAX_DATA_BYTES, event_type, serialize, timestamp, utc_now
from vapi_mcp.store.files import open_private

__all__ = ["DEFAULT_WINDOW", "EVENT_TYPES", "MAX_DATA_BYTES", "MAX_READ_LIMIT", "CallEvent", "EventLog", "EventPage"]

logger = logging.getLogger(__name__)

EVENT_TYPES: tuple[str, ...] = (
    "call.status",
    "listen.connected",
    "listen.reconnecting",
    "listen.closed",
    "speech.started",
    "speech.stopped",
    "silence",
    "overlap",
    "transcript",
    "control.sent",
    "vapi.message",
)
"""The types vapi-mcp emits (DESIGN §6). The log accepts any type string; this is documentation."""

DEFAULT_WINDOW = 256
"""Events kept in memory per call: the journal holds them all, so this only serves live readers (and bounds RAM)."""

MAX_READ_LIMIT = 10_000
"""``read(limit=...)`` is clamped to this; the cursor makes the clamp harmless."""

_SCAN_BUDGET = 50_000  # journal lines examined per read() before returning a cursor to resume from


class CallEvent(BaseModel):
    """One event: ``at`` is ISO-8601 UTC with milliseconds and a ``Z`` (``2026-05-09T07:35:25.123Z``)."""

    model_config = ConfigDict(frozen=True)

    seq: int
    at: str
    type: str
    data: dict[str, Any]


class EventPage(BaseModel):
    """A page of a call's events.

    ``next_seq`` is the ``after_seq`` for the next call. It is the seq of the last event *examined*: the last
    returned one when the page is full, otherwise the latest seq scanned, so a reader filtering by type
    never rescans events it has already skipped. ``dropped_before`` is set when events after ``after_seq``
    no longer exist (no journal and the window slid past them): the events with
    ``after_seq < seq < dropped_before`` are gone for good and the page resumes at ``dropped_before``.
    """

    call_id: str
    events: list[CallEvent]
    next_seq: int
    latest_seq: int
    dropped_before: int | None = None


def _parse_line(line: bytes) -> dict[str, Any] | None:
    """A journal line as a dict, or None if torn or corrupt (such lines are skipped, never fatal)."""
    if not line.endswith(b"\n"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("seq"), int):
        return None
    return obj


class EventLog:
    """The event log of one call. See the module docstring for the storage model."""

    def __init__(
        self,
        call_id: str,
        *,
        journal: Path | None = None,
        window: int = DEFAULT_WINDOW,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.call_id = call_id
        self._clock = clock or utc_now
        self._window: deque[CallEvent] = deque(maxlen=window)
        # Copy-on-write: (un)subscribing replaces the tuple, so append() iterates a snapshot without copying
        # one per event, and a listener may unsubscribe (or subscribe) from inside its own callback.
        self._listeners: tuple[Callable[[CallEvent], None], ...] = ()
        self._seq = 0
        self._journal_path = Path(journal) if journal is not None else None
        self._journal: IO[bytes] | None = None
        self._journal_first = 1  # seqs [journal_first, journal_last] are on disk
        self._journal_last = 0
        if self._journal_path is not None:
            self._open_journal(self._journal_path)

    # ------------------------------------------------------------------ journal lifecycle

    def _open_journal(self, path: Path) -> None:
        # "a+b" keeps the old lines, lets us read them and cut a torn tail, and makes every write land at the
        # end; unbuffered, so each line is exactly one write() to the OS.
        journal: IO[bytes] = open_private(path, "a+b", buffering=0)
        try:
            with open(path, "rb") as reader:  # buffered: a raw file's readline() reads byte by byte
                first, last, good_end = self._recover(reader)
            size = journal.seek(0, os.SEEK_END)
            if good_end < size:
                logger.warning(
                    "event journal of call %s: dropping a torn last line (%d bytes)", self.call_id, size - good_end
                )
                journal.truncate(good_end)
        except BaseException:
            journal.close()
            raise
        self._journal = journal
        self._journal_first = first if first is not None else last + 1
        self._journal_last = last
        self._seq = last

    @staticmethod
    def _recover(journal: IO[bytes]) -> tuple[int | None, int, int]:
        """Scan an existing journal's two ends: (first seq, last seq, end of the last complete line)."""
        size = journal.seek(0, os.SEEK_END)
        if size == 0:
            return None, 0, 0
        good_end: int | None = None
        last = 0
        for offset, line in _reverse_lines(journal, size):
            if good_end is None:
                # Everything after the last newline is a torn write; the file is cut there.
                good_end = offset + len(line) if line.endswith(b"\n") else offset
            obj = _parse_line(line)
            if obj is not None:
                last = obj["seq"]
                break
        journal.seek(0)
        first = None
        for line in journal:
            obj = _parse_line(line)
            if obj is not None:
                first = obj["seq"]
                break
        return first, last, good_end or 0

    def close(self) -> None:
        """Close the journal. Later appends still reach memory and listeners, but no longer the disk."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventLog(call_id={self.call_id!r}, latest_seq={self._seq})"

    # ------------------------------------------------------------------ writing

    @property
    def latest_seq(self) -> int:
        return self._seq

    def __len__(self) -> int:
        """Events ever appended to this call's log (across restarts when journaled): seqs are 1..n."""
        return self._seq

    def append(self, type: str, data: Mapping[str, Any] | None = None) -> CallEvent:
        """Record an event and tell the listeners.

        ``data`` is copied through JSON (anything unknown becomes ``str``, NaN/inf become ``null``). If it
        serializes to more than 16 KiB, long strings are cut (ending in ``…``) and ``"truncated": true`` is
        added, so a runaway transcript cannot blow up memory or the journal.
        """
        clean, text = serialize(data)
        type, type_text = event_type(type)
        seq = self._seq + 1
        at = timestamp(self._clock)
        event = CallEvent(seq=seq, at=at, type=type, data=clean)
        self._seq = seq
        self._window.append(event)
        if self._journal is not None:
            self._write_line(f'{{"seq":{seq},"at":"{at}","type":{type_text},"data":{text}}}\n', seq)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("event listener failed on %s event %d of call %s", type, seq, self.call_id)
        return event

    def _write_line(self, line: str, seq: int) -> None:
        assert self._journal is not None
        payload = line.encode("utf-8")
        try:
            written = self._journal.write(payload)
            while written is not None and written < len(payload):  # short write on a raw file: rare
                payload = payload[written:]
                written = self._journal.write(payload)
        except OSError as exc:
            # Never break the listen session over the disk: keep the events in memory, stop journaling.
            # Readers then see the events after ``journal_last`` that slid out as dropped.
            logger.error(
                "event journal of call %s failed (%s); events are no longer journaled",
                self.call_id,
                exc.strerror or type(exc).__name__,
            )
            self.close()
            return
        self._journal_last = seq

    # ------------------------------------------------------------------ listeners

    def add_listener(self, callback: Callable[[CallEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` synchronously after every append; returns an idempotent unsubscribe.

        A listener must be quick and must not block (it runs inside ``append``); its exceptions are logged
        and swallowed so that one bad subscriber cannot break the listen session.
        """
        self._listeners = (*self._listeners, callback)

        def unsubscribe() -> None:
            listeners = list(self._listeners)
            try:
                listeners.remove(callback)
            except ValueError:
                return
            self._listeners = tuple(listeners)

        return unsubscribe

    # ------------------------------------------------------------------ reading

    def read(self, after_seq: int = 0, limit: int = 100, types: Collection[str] | None = None) -> EventPage:
        """Up to ``limit`` events with ``seq > after_seq`` (of the given ``types``), in seq order."""
        if after_seq < 0 or limit < 0:
            raise InvalidInput("after_seq and limit must not be negative")
        limit = min(limit, MAX_READ_LIMIT)
        if isinstance(types, str):  # read(types="transcript") means one type, not its letters
            types = (types,)
        wanted = frozenset(types) if types is not None else None
        cursor = min(after_seq, self._seq)
        events: list[CallEvent] = []
        dropped: int | None = None
        mem_first = self._window[0].seq if self._window else self._seq + 1
        journal_ok = self._journal_path is not None
        while len(events) < limit and cursor < self._seq:
            nxt = cursor + 1
            if nxt >= mem_first:
                cursor = self._read_window(cursor, limit, wanted, events)
                break
            if journal_ok and self._journal_first <= nxt <= self._journal_last:
                until = min(self._journal_last, mem_first - 1)
                try:
                    cursor, exhausted = self._read_journal(cursor, until, limit, wanted, events)
                except OSError as exc:
                    logger.warning("cannot read the event journal of call %s: %s", self.call_id, exc.strerror)
                    journal_ok = False
                    continue
                if exhausted:
                    break
                continue
            if events or cursor != min(after_seq, self._seq):
                break  # report the gap on the next page, so that dropped_before means what it says
            resume = mem_first
            if journal_ok and nxt < self._journal_first <= self._journal_last:
                resume = min(resume, self._journal_first)
            dropped, cursor = resume, resume - 1
        return EventPage(
            call_id=self.call_id, events=events, next_seq=cursor, latest_seq=self._seq, dropped_before=dropped
        )

    def _read_window(self, cursor: int, limit: int, wanted: frozenset[str] | None, out: list[CallEvent]) -> int:
        start = cursor + 1 - self._window[0].seq  # the window holds consecutive seqs
        for event in islice(self._window, start, None):
            cursor = event.seq
            if wanted is None or event.type in wanted:
                out.append(event)
                if len(out) >= limit:
                    break
        return cursor

    def _read_journal(
        self, cursor: int, until: int, limit: int, wanted: frozenset[str] | None, out: list[CallEvent]
    ) -> tuple[int, bool]:
        """Scan the journal for seqs in (cursor, until]; returns (new cursor, stop reading now)."""
        assert self._journal_path is not None
        budget = _SCAN_BUDGET
        with open(self._journal_path, "rb") as f:
            f.seek(_find_offset(f, cursor + 1))
            for line in f:
                obj = _parse_line(line)
                if obj is None or obj["seq"] <= cursor:
                    continue
                if obj["seq"] > until:
                    break
                cursor = obj["seq"]
                if wanted is None or obj.get("type") in wanted:
                    try:
                        out.append(CallEvent.model_validate(obj))
                    except ValidationError:  # a line with a seq but not an event: corrupt, skip it
                        continue
                    if len(out) >= limit:
                        return cursor, True
                budget -= 1
                if budget == 0:
                    return cursor, True
        # Seqs up to ``until`` that are not on disk (a corrupt line) are skipped, not waited for.
        return max(cursor, until), False


def _reverse_lines(f: IO[bytes], size: int, chunk: int = 64 * 1024) -> Iterator[tuple[int, bytes]]:
    """Yield (offset, line) from the end of the file backwards, reading ``chunk`` bytes at a time."""
    end = size
    tail = b""
    while end > 0:
        start = max(0, end - chunk)
        f.seek(start)
        block = f.read(end - start) + tail
        end = start
        # Lines that start inside this block, except the first partial one (unless we are at the top).
        parts = block.split(b"\n")
        pos = start + len(block)
        for i in range(len(parts) - 1, 0, -1):
            piece = parts[i] + (b"\n" if i < len(parts) - 1 else b"")
            pos -= len(piece)
            if piece:
                yield pos, piece
        tail = parts[0] + (b"\n" if len(parts) > 1 else b"")
    if tail:
        yield 0, tail


def _find_offset(f: IO[bytes], target: int) -> int:
    """Byte offset of a line at or before the first line with ``seq >= target`` (binary search).

    Invariant: every parseable line before ``lo`` has a seq < target, and the line at ``hi`` (when
    ``hi < size``) has a seq >= target. Corrupt lines in between are skipped by the linear scan that follows.
    """
    lo, hi = 0, f.seek(0, os.SEEK_END)
    while hi - lo > 4096:
        mid = (lo + hi) // 2
        f.seek(mid - 1)
        f.readline()  # to the start of the next line (``mid`` itself if ``mid - 1`` is a newline)
        start = f.tell()
        seq = None
        while seq is None and f.tell() < hi:
            obj = _parse_line(f.readline())
            seq = obj["seq"] if obj is not None else None
        if seq is None:
            hi = mid  # nothing parseable starts in [mid, hi): search below mid (lo alone ensures correctness)
            continue
        if seq < target:
            lo = f.tell()
        else:
            hi = start
    return lo
