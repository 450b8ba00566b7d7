"""JsonlJournal alone: the file format, recovery after a crash, the binary-search scan, a full disk."""

from __future__ import annotations

import errno
import json
import logging
import random
import stat
from pathlib import Path
from typing import IO, Any

import pytest

from vapi_mcp.store import journal as journal_module
from vapi_mcp.store.base import Journal, JournalScan
from vapi_mcp.store.files import open_private
from vapi_mcp.store.journal import JsonlJournal

AT = "2026-05-09T07:35:25.123Z"


def add(journal: JsonlJournal, seq: int, type_: str = "t", data: dict[str, Any] | None = None) -> None:
    journal.append(seq, AT, json.dumps(type_), json.dumps(data or {}, separators=(",", ":")))


def line(seq: int, type_: str = "t") -> bytes:
    return f'{{"seq":{seq},"at":"{AT}","type":"{type_}","data":{{}}}}\n'.encode()


def scan_all(journal: JsonlJournal, after: int = 0, until: int | None = None, **kwargs: Any) -> JournalScan:
    options: dict[str, Any] = {"types": None, "limit": 10_000, "budget": 50_000, **kwargs}
    return journal.scan(after, journal.last_seq if until is None else until, **options)


def seqs(scan: JournalScan) -> list[int]:
    return [record["seq"] for record in scan.records]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"


def test_a_new_journal_is_private_empty_and_writes_one_line_per_append(path: Path) -> None:
    journal: Journal = JsonlJournal(path, call_id="c")  # the protocol, statically
    assert (journal.first_seq, journal.last_seq) == (1, 0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    journal.append(1, AT, '"call.status"', '{"status":"in-progress"}')
    journal.append(2, AT, '"x"', "{}")
    # Still open: every line is already with the OS, in the format's field order.
    assert path.read_bytes() == (
        b'{"seq":1,"at":"2026-05-09T07:35:25.123Z","type":"call.status","data":{"status":"in-progress"}}\n'
        b'{"seq":2,"at":"2026-05-09T07:35:25.123Z","type":"x","data":{}}\n'
    )
    assert (journal.first_seq, journal.last_seq) == (1, 2)
    journal.close()
    journal.close()  # idempotent


def test_reopening_reports_the_seqs_held(path: Path) -> None:
    path.write_bytes(line(7) + line(8) + line(9))
    journal = JsonlJournal(path)
    assert (journal.first_seq, journal.last_seq) == (7, 9)
    assert repr(journal).endswith("seqs=7..9)")
    add(journal, 10)
    assert seqs(scan_all(journal)) == [7, 8, 9, 10]
    journal.close()


def test_a_torn_last_line_is_cut_and_logged(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path.write_bytes(line(1) + line(2) + b'{"seq":3,"at":"2026-05-09T07:35:25.123Z","type":"trans')  # killed
    with caplog.at_level(logging.WARNING, logger="vapi_mcp.store.journal"):
        journal = JsonlJournal(path, call_id="call-9")
    assert journal.last_seq == 2 and journal.torn_bytes == 54  # counted, for the start-up index's report
    assert path.read_bytes() == line(1) + line(2)
    assert any("call-9" in r.getMessage() and "torn last line (54 bytes)" in r.getMessage() for r in caplog.records)
    add(journal, 3)
    assert [json.loads(text)["seq"] for text in path.read_text().splitlines()] == [1, 2, 3]  # not glued on
    journal.close()


def test_a_long_torn_tail_over_several_reverse_blocks(path: Path) -> None:
    body = b"".join(line(seq, "y" * 60) for seq in range(1, 2001))
    assert len(body) > 2 * 64 * 1024  # several blocks for the backward scan
    path.write_bytes(body + b'{"seq":2001,"data":{"text":"' + b"z" * 150_000)
    with JsonlJournal(path) as journal:
        assert (journal.first_seq, journal.last_seq) == (1, 2000)
        assert path.stat().st_size == len(body)


def test_an_empty_or_fully_torn_journal(path: Path) -> None:
    path.write_bytes(b"")
    with JsonlJournal(path) as journal:
        assert (journal.first_seq, journal.last_seq) == (1, 0)
    path.write_bytes(b'{"seq":1,"at"')
    with JsonlJournal(path) as journal:
        assert (journal.first_seq, journal.last_seq) == (1, 0)
        assert path.read_bytes() == b""


def test_corrupt_complete_lines_are_skipped_at_both_ends(path: Path) -> None:
    path.write_bytes(b"not json\n[1,2]\n\n" + line(4) + b'{"seq":"5"}\n' + line(6) + b'{"no":"seq"}\n')
    with JsonlJournal(path) as journal:
        assert (journal.first_seq, journal.last_seq) == (4, 6)
        assert path.read_bytes().endswith(b'{"no":"seq"}\n')  # complete lines are kept, only skipped
        assert seqs(scan_all(journal)) == [4, 6]
        scan = scan_all(journal, after=0, until=6)
        assert scan.cursor == 6 and scan.complete


def test_scan_finds_any_seq_in_a_long_journal_by_binary_search(path: Path) -> None:
    with JsonlJournal(path) as journal:
        for seq in range(1, 3001):
            add(journal, seq, "transcript" if seq % 7 == 1 else "speech", {"pad": "x" * (seq % 50)})
        rng = random.Random(7)
        for after in [0, 1, 2, 1499, 2997, 2998, 2999, 3000, *rng.sample(range(3000), 40)]:
            scan = journal.scan(after, 3000, types=None, limit=3, budget=50_000)
            assert seqs(scan) == list(range(after + 1, min(after + 3, 3000) + 1)), after
        scan = journal.scan(1000, 3000, types=frozenset({"transcript"}), limit=2, budget=50_000)
        assert seqs(scan) == [1002, 1009] and scan.cursor == 1009 and not scan.complete


def test_scan_stops_at_until_at_limit_or_when_the_budget_runs_out(path: Path) -> None:
    with JsonlJournal(path) as journal:
        for seq in range(1, 21):
            add(journal, seq, "a" if seq % 2 else "b")
        assert scan_all(journal, after=5, until=8) == JournalScan(
            [json.loads(line(seq, "a" if seq % 2 else "b")) for seq in (6, 7, 8)], 8, True
        )
        limited = scan_all(journal, after=0, limit=4)
        assert seqs(limited) == [1, 2, 3, 4] and limited.cursor == 4 and not limited.complete
        # The budget counts records examined, matching or not: the cursor says where to resume.
        budgeted = scan_all(journal, after=0, types=frozenset({"b"}), budget=5)
        assert seqs(budgeted) == [2, 4] and budgeted.cursor == 5 and not budgeted.complete
        rest = scan_all(journal, after=budgeted.cursor, types=frozenset({"b"}), budget=50)
        assert seqs(rest) == list(range(6, 21, 2)) and rest.cursor == 20 and rest.complete
        # Nothing matches: the whole range is still examined, and said so.
        none = scan_all(journal, types=frozenset({"c"}))
        assert none.records == [] and none.cursor == 20 and none.complete


def test_scan_skips_missing_seqs_and_odd_types(path: Path) -> None:
    path.write_bytes(line(1) + b'{"seq":2,"type":["unhashable"]}\n' + b"garbage\n" + line(4))
    with JsonlJournal(path) as journal:
        scan = scan_all(journal, types=frozenset({"t"}))
        assert seqs(scan) == [1, 4] and scan.complete
        # Records are returned as parsed, not validated: the event log decides what an event is.
        assert seqs(scan_all(journal)) == [1, 2, 4]
        gap = scan_all(journal, after=0, until=3)
        assert gap.cursor == 3 and gap.complete  # seq 3 is not on disk: skipped, not waited for


def test_scan_works_after_close_and_raises_oserror_when_the_file_is_gone(path: Path) -> None:
    journal = JsonlJournal(path)
    add(journal, 1)
    journal.close()
    assert journal.closed
    add(journal, 2)  # ignored: closed
    assert journal.last_seq == 1 and seqs(scan_all(journal)) == [1]
    path.unlink()
    with pytest.raises(OSError):
        scan_all(journal)


class FullDisk:
    """A journal file on a full disk: opens and seeks like the real one, every write fails with ENOSPC."""

    def __init__(self, real: IO[bytes]) -> None:
        self._real = real
        self.writes = 0

    def write(self, payload: bytes) -> int:
        self.writes += 1
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_full_disk_stops_journaling_once_without_raising(
    path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    opened: list[FullDisk] = []

    def full_disk_open(target: Path, mode: str = "ab", **kwargs: Any) -> FullDisk:
        opened.append(FullDisk(open_private(target, mode, **kwargs)))
        return opened[-1]

    monkeypatch.setattr(journal_module, "open_private", full_disk_open)
    journal = JsonlJournal(path, call_id="call-7")
    with caplog.at_level(logging.ERROR, logger="vapi_mcp.store.journal"):
        for seq in range(1, 6):
            add(journal, seq)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["event journal of call call-7 failed (No space left on device); events are no longer journaled"]
    assert opened[0].writes == 1 and journal.closed
    assert (journal.first_seq, journal.last_seq) == (1, 0)
    assert path.read_bytes() == b""


def test_a_short_write_is_completed(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Trickle(FullDisk):
        def write(self, payload: bytes) -> int:
            self.writes += 1
            return self._real.write(payload[:10])

    monkeypatch.setattr(journal_module, "open_private", lambda *a, **k: Trickle(open_private(*a, **k)))
    with JsonlJournal(path) as journal:
        add(journal, 1)
        assert journal.last_seq == 1
    assert path.read_bytes() == line(1)
