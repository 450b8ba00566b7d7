"""Dropping a journal's old events (the fleet inbox's retention) on real files written by the event log."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vapi_mcp.listen.events import EventLog
from vapi_mcp.store import files
from vapi_mcp.store.journal import JsonlJournal
from vapi_mcp.store.trim import drop_events_before

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=30)


def write_events(path: Path, *ages_days: float) -> None:
    """Append one inbox event per age (days before NOW), through the event log as the server writes them."""
    stamps = iter([NOW - timedelta(days=age) for age in ages_days])
    with EventLog("inbox", journal=path, clock=lambda: next(stamps)) as log:
        for age in ages_days:
            log.append("alert", {"call_id": f"call-{age:g}", "rule": "dead_air"})


def reopened(path: Path) -> EventLog:
    return EventLog("inbox", journal=JsonlJournal(path))


def test_old_events_go_younger_ones_keep_their_seqs_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "inbox.jsonl"
    write_events(path, 40, 35, 31, 29, 2, 0)
    young = path.read_bytes().splitlines(keepends=True)[3:]
    assert drop_events_before(path, CUTOFF) == 3
    assert path.read_bytes() == b"".join(young), "the kept lines, as they were"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["inbox.jsonl"], "no temp file left"
    with reopened(path) as log:
        page = log.read(after_seq=0)
        assert [e.seq for e in page.events] == [4, 5, 6] and page.dropped_before == 4
        assert log.append("alert", {}).seq == 7


def test_when_every_event_is_old_one_line_keeps_the_last_seq(tmp_path: Path) -> None:
    path = tmp_path / "inbox.jsonl"
    write_events(path, 90, 60, 45)
    assert drop_events_before(path, CUTOFF) == 3
    assert path.read_text() == '{"seq":3,"pruned_before":"2026-11-05T09:00:00.000Z"}\n'
    with reopened(path) as log:
        assert log.latest_seq == 3
        page = log.read(after_seq=0)
        assert page.events == [] and page.next_seq == 3 and page.dropped_before == 3
        assert log.append("call.added", {"call_id": "c"}).seq == 4, "a seq is never used twice"
    # The next start: nothing old, so the file is left as it is; the seqs go on.
    before = path.stat()
    assert drop_events_before(path, CUTOFF) == 0
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns
    with reopened(path) as log:
        assert [e.seq for e in log.read(after_seq=0).events] == [4]
    # And once that event is old too, the line holds its seq instead.
    assert drop_events_before(path, datetime.now(UTC) + timedelta(days=1)) == 1
    with reopened(path) as log:
        assert log.latest_seq == 4 and log.read(after_seq=0).events == []


def test_nothing_old_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "inbox.jsonl"
    write_events(path, 3, 1)
    before = path.stat()
    assert drop_events_before(path, CUTOFF) == 0
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns
    assert drop_events_before(tmp_path / "missing.jsonl", CUTOFF) == 0
    assert not (tmp_path / "missing.jsonl").exists()


def test_a_torn_last_line_stays_tolerated(tmp_path: Path) -> None:
    kept = tmp_path / "kept.jsonl"
    write_events(kept, 40, 1)
    with open(kept, "ab") as f:
        f.write(b'{"seq":3,"at":"2026-12-05T08:00:00.000Z","type":"al')  # a write killed half way
    assert drop_events_before(kept, CUTOFF) == 1
    journal = JsonlJournal(kept)
    assert journal.torn_bytes > 0 and (journal.first_seq, journal.last_seq) == (2, 2), "cut when opened, as before"
    journal.close()

    gone = tmp_path / "gone.jsonl"
    write_events(gone, 40, 35)
    with open(gone, "ab") as f:
        f.write(b'{"seq":3,"at":"2026-12-05T08:0')
    assert drop_events_before(gone, CUTOFF) == 2
    with reopened(gone) as log:
        assert log.latest_seq == 2, "the last whole line's seq, as the journal would have counted"


def test_an_older_event_after_a_younger_one_is_kept(tmp_path: Path) -> None:
    """A clock that stepped back: nothing younger than the cutoff is lost, so the file is cut only before it."""
    path = tmp_path / "inbox.jsonl"
    write_events(path, 40, 10, 50, 1)
    assert drop_events_before(path, CUTOFF) == 1
    with reopened(path) as log:
        assert [e.seq for e in log.read(after_seq=0).events] == [2, 3, 4]


def test_a_failed_replace_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "inbox.jsonl"
    write_events(path, 40, 1)
    content = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError):
        drop_events_before(path, CUTOFF)
    monkeypatch.undo()
    assert path.read_bytes() == content
    assert os.listdir(tmp_path) == ["inbox.jsonl"]
