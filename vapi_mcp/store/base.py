"""The store seam: what the layers above need from wherever a call's state lives.

Two implementations are planned: :class:`~vapi_mcp.store.local.LocalStore`, the embedded default (a private
data dir, one folder per call), and a Redis-backed one for replicas (DESIGN §13: each call's event log in a
capped Redis Stream with the same ``seq``, calls in hashes). Both must fit these protocols, so they stay small
and say only what callers rely on.

The journal's ``append`` is synchronous and must not block: it runs inside ``EventLog.append`` on the audio
hot path (a few µs per event). A file journal writes one line; a Redis journal would queue the entry and
flush it (XADD) from a task of its own. Reads are synchronous too, since ``EventLog.read`` is; a journal that
cannot answer locally would need an async read path, which is for the Redis issue to add.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

__all__ = ["CallStore", "Journal", "JournalScan"]


class JournalScan(NamedTuple):
    """What one :meth:`Journal.scan` found.

    ``records`` are the event objects (``{"seq", "at", "type", "data"}`` as parsed, not yet validated) in seq
    order. ``cursor`` is the last seq examined: every seq up to it has been looked at, matched or not.
    ``complete`` is true when the whole range was examined (``cursor == until``); false when the scan stopped
    early, at ``limit`` records or when its ``budget`` ran out.
    """

    records: list[dict[str, Any]]
    cursor: int
    complete: bool


class Journal(Protocol):
    """The durable, append-only record of one call's events, keyed by ``seq`` (strictly increasing).

    The journal holds seqs ``first_seq..last_seq`` (``last_seq == 0`` and ``first_seq == 1`` when empty);
    an opened journal reports what it already held, so a log reopened after a restart continues its seq.
    """

    @property
    def first_seq(self) -> int:
        """The first seq held (``last_seq + 1`` when the journal is empty)."""
        ...

    @property
    def last_seq(self) -> int:
        """The last seq held: the last one appended successfully (0 when empty)."""
        ...

    def append(self, seq: int, at: str, type_json: str, data_json: str) -> None:
        """Record event ``seq`` (greater than ``last_seq``); never raises, never blocks.

        ``type_json`` and ``data_json`` are the event's type and data already as compact JSON (the log
        serializes them once, for memory and journal alike); ``at`` is ISO-8601 text that needs no escaping.
        When the journal cannot record (closed, or storage failed), the event is silently not journaled:
        ``last_seq`` stays where it was, which is how readers learn the later events are not held.
        """
        ...

    def scan(self, after: int, until: int, *, types: frozenset[str] | None, limit: int, budget: int) -> JournalScan:
        """The records with ``after < seq <= until`` whose type is in ``types`` (all when None), in seq order.

        Stops after ``limit`` records (``limit >= 1``) or after examining ``budget`` records, so one read of a
        long call costs bounded work; the returned cursor says where to resume. Records that cannot be parsed
        are skipped. Raises :class:`OSError` when the journal cannot be read at all. Works after :meth:`close`.
        """
        ...

    def close(self) -> None:
        """Stop appending (later appends are ignored) and release resources; idempotent."""
        ...


class CallStore(Protocol):
    """Where calls' state lives: their event journals, recordings, the index of calls, and snapshots."""

    @property
    def root(self) -> Path:
        """The local data dir (recordings live there even when state is shared)."""
        ...

    def open_journal(self, call_id: str) -> Journal:
        """The call's event journal, opened for appending (and reading back what it already holds)."""
        ...

    def recording_path(self, call_id: str) -> Path:
        """Where the call's WAV recording goes; its folder exists."""
        ...

    def open_inbox_journal(self) -> Journal:
        """The fleet inbox's journal (DESIGN §11): the same kind of log as a call's, one per store."""
        ...

    def call_ids(self) -> list[str]:
        """Every call the store holds, sorted."""
        ...

    def write_snapshot(self, call_id: str, data: Mapping[str, Any]) -> None:
        """Replace the call's snapshot (JSON-serializable ``data``) in one step: readers see old or new."""
        ...

    def read_snapshot(self, call_id: str) -> dict[str, Any] | None:
        """The call's snapshot, or None when there is none or it cannot be read."""
        ...
