"""Dropping a JSONL journal's events older than a moment, crash-safely: the fleet inbox's retention.

A call's journal goes with its folder when retention deletes the call; the fleet inbox's journal
(``<data dir>/inbox.jsonl``) belongs to no call, so its old events are cut out of it instead, at start, before
it is opened. What stays:

- the file's tail from the first event stamped (``at``) at or after the cutoff, every line of it as it is, so
  nothing younger is lost, even after a clock that stepped back (an older event after a younger one stays);
- the seqs: the kept events keep theirs, and when none is kept the file keeps one line that is no event,
  ``{"seq": N, "pruned_before": "<cutoff>"}`` with N the last seq it held. A reopened
  :class:`~vapi_mcp.store.journal.JsonlJournal` then holds seqs N..N, so the log's next event is N + 1 and no
  seq is ever used twice; readers skip that line as they skip any record that is not an event, and a page from
  seq 0 says the events before the first one held are gone (``dropped_before``).

The new file is written beside the old one and renamed over it (:func:`~vapi_mcp.store.files.replace_private`):
a crash leaves the old file whole or the new one. A torn last line (a write killed half way) is copied as it is
when it follows a kept event (the journal cuts it when opened, as before) and dropped with the old events
otherwise. Lines that are not events before the first kept one are dropped; after it they stay.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from vapi_mcp.store.files import open_private, replace_private
from vapi_mcp.store.journal import parse_record

__all__ = ["drop_events_before"]


def drop_events_before(path: Path, cutoff: datetime) -> int:
    """Drop the events stamped before ``cutoff`` (aware) from the journal at ``path``: how many were dropped.

    0 when there is nothing to drop, or no such file: the file is then left as it was, untouched.
    """
    try:
        source = open_private(path, "rb")
    except FileNotFoundError:
        return 0
    with source:
        keep_from, dropped, last_seq = _old_head(source, cutoff)
        if dropped == 0:
            return 0
        marker = b""
        if keep_from is None:  # nothing kept: one line still holds the last seq
            stamp = cutoff.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            marker = json.dumps({"seq": last_seq, "pruned_before": stamp}, separators=(",", ":")).encode() + b"\n"

        def write(target: IO[bytes]) -> None:
            target.write(marker)
            if keep_from is not None:
                source.seek(keep_from)
                shutil.copyfileobj(source, target)

        replace_private(path, write)
    return dropped


def _old_head(journal: IO[bytes], cutoff: datetime) -> tuple[int | None, int, int]:
    """(offset of the first event stamped at or after ``cutoff`` or None, events before it, last seq before it).

    Reads the file from the top up to that event only: what follows is copied, never parsed.
    """
    offset, dropped, last_seq = 0, 0, 0
    for line in journal:
        record = parse_record(line) if line.endswith(b"\n") else None
        if record is not None:
            stamp = _stamp(record)
            if stamp is not None and stamp >= cutoff:
                return offset, dropped, last_seq
            last_seq = max(last_seq, record["seq"])
            if stamp is not None:
                dropped += 1
        offset += len(line)
    return None, dropped, last_seq


def _stamp(record: dict[str, Any]) -> datetime | None:
    """The event's ``at`` as an aware datetime (UTC if it names no zone), or None if it has none that parses."""
    at = record.get("at")
    if not isinstance(at, str):
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
