"""One event log per supervised call: ``seq``-ordered, bounded in memory, journaled to JSONL.

Agents page through a call's events with a cursor (``after_seq`` → ``next_seq``), possibly long after they
happened, so the log keeps two stores:

- the last ``window`` events in memory (a deque), which serves live readers and ``wait_for_event``;
- a journal (:class:`~vapi_mcp.store.base.Journal`: by default the call's JSONL file,
  :class:`~vapi_mcp.store.journal.JsonlJournal`), which holds every event and from which anything older is
  read back. The log talks to it only through that protocol, so where the journal lives is the store's
  business.

Without a journal, events that slid out of the window are gone; :class:`EventPage.dropped_before` says so
rather than pretending the page is complete. A log opened on a journal that already holds events (process
restart) continues its ``seq``.

The log is synchronous and meant to be used from one thread (the event loop); it never blocks on anything
but the journal's append, which must not block either.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from vapi_mcp.errors import InvalidInput
from vapi_mcp.listen.eventdata import MAX_DATA_BYTES, event_type, serialize, timestamp, utc_now
from vapi_mcp.store.base import Journal
from vapi_mcp.store.journal import JsonlJournal

__all__ = ["DEFAULT_WINDOW", "EVENT_TYPES", "MAX_DATA_BYTES", "MAX_READ_LIMIT", "CallEvent", "EventLog", "EventPage"]

logger = logging.getLogger(__name__)

EVENT_TYPES: tuple[str, ...] = (
    "call.status",
    "listen.connected",
    "listen.reconnecting",
    "listen.closed",
    "listen.gap",
    "speech.started",
    "speech.stopped",
    "silence",
    "overlap",
    "transcript",
    "control.sent",
    "vapi.message",
    "alert",
    "speech.update",
    "call.report",
    "vapi.hang",
    "vapi.user-interrupted",
    "vapi.transfer-update",
    "vapi.language-change-detected",
    "store.unavailable",
    "call.added",
    "call.ended",
)
"""Every type vapi-mcp emits (DESIGN §6): a call's log, with what webhooks add (§12: ``speech.update``,
``call.report``, ``vapi.<type>`` for the messages listed) and replicas (§13: ``store.unavailable`` once Redis is
back), and the fleet inbox's own ``call.added`` / ``call.ended`` (§11). The log accepts any type string; this
list is documentation, held by a test against every type the package appends."""

DEFAULT_WINDOW = 256
"""Events kept in memory per call: the journal holds them all, so this only serves live readers (and bounds RAM)."""

MAX_READ_LIMIT = 10_000
"""``read(limit=...)`` is clamped to this; the cursor makes the clamp harmless."""

_SCAN_BUDGET = 50_000  # journal records examined per read() before returning a cursor to resume from


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


class EventLog:
    """The event log of one call. See the module docstring for the storage model."""

    def __init__(
        self,
        call_id: str,
        *,
        journal: Journal | Path | None = None,
        window: int = DEFAULT_WINDOW,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``journal`` is a :class:`Journal` (the log owns it from now on and closes it in :meth:`close`), or a
        path, for which a :class:`JsonlJournal` is opened (a convenience for tests and benches)."""
        if window < 1:
            raise ValueError("window must be at least 1")
        self.call_id = call_id
        self._clock = clock or utc_now
        self._window: deque[CallEvent] = deque(maxlen=window)
        # Copy-on-write: (un)subscribing replaces the tuple, so append() iterates a snapshot without copying
        # one per event, and a listener may unsubscribe (or subscribe) from inside its own callback.
        self._listeners: tuple[Callable[[CallEvent], None], ...] = ()
        if isinstance(journal, str | os.PathLike):
            journal = JsonlJournal(Path(journal), call_id=call_id)
        self._journal = journal
        self._seq = journal.last_seq if journal is not None else 0

    # ------------------------------------------------------------------ journal lifecycle

    def close(self) -> None:
        """Close the journal. Later appends still reach memory and listeners, but no longer the journal;
        what it holds stays readable."""
        if self._journal is not None:
            self._journal.close()

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
            self._journal.append(seq, at, type_text, text)
        self._tell(event)
        return event

    def _tell(self, event: CallEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("event listener failed on %s event %d of call %s", event.type, event.seq, self.call_id)

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
        journal = self._journal
        while len(events) < limit and cursor < self._seq:
            nxt = cursor + 1
            if nxt >= mem_first:
                cursor = self._read_window(cursor, limit, wanted, events)
                break
            if journal is not None and journal.first_seq <= nxt <= journal.last_seq:
                until = min(journal.last_seq, mem_first - 1)
                try:
                    cursor, exhausted = self._read_journal(journal, cursor, until, limit, wanted, events)
                except OSError as exc:
                    logger.warning("cannot read the event journal of call %s: %s", self.call_id, exc.strerror)
                    journal = None
                    continue
                if exhausted:
                    break
                continue
            if events or cursor != min(after_seq, self._seq):
                break  # report the gap on the next page, so that dropped_before means what it says
            resume = mem_first
            if journal is not None and nxt < journal.first_seq <= journal.last_seq:
                resume = min(resume, journal.first_seq)
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
        self,
        journal: Journal,
        cursor: int,
        until: int,
        limit: int,
        wanted: frozenset[str] | None,
        out: list[CallEvent],
    ) -> tuple[int, bool]:
        """Read seqs in (cursor, until] from the journal into ``out``; returns (new cursor, stop reading now).

        The scan budget bounds the work of one read of a long call: when it runs out, the page ends early and
        ``next_seq`` resumes the scan. A record that is not an event (a corrupt line with a seq) is skipped;
        the page then comes back one short and the caller scans on from the cursor.
        """
        want = limit - len(out)
        scan = journal.scan(cursor, until, types=wanted, limit=want, budget=_SCAN_BUDGET)
        for record in scan.records:
            try:
                out.append(CallEvent.model_validate(record))
            except ValidationError:
                continue
        return scan.cursor, not scan.complete and len(scan.records) < want  # stop: the budget ran out
