from __future__ import annotations

import collections
import enum
import json
import logging
import math
import random
import re
import stat
import struct
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import vapi_mcp
from vapi_mcp.errors import InvalidInput
from vapi_mcp.listen import eventdata, events
from vapi_mcp.listen.events import EVENT_TYPES, MAX_DATA_BYTES, CallEvent, EventLog, EventPage
from vapi_mcp.store.base import JournalScan
from vapi_mcp.supervisor import webhooks
from vapi_mcp.supervisor.alerts.inbox import INBOX_TYPES

AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def seqs(page: EventPage) -> list[int]:
    return [e.seq for e in page.events]


def journal_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 9, 7, 35, 25, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=250)
        return self.now


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"


@pytest.fixture
def log(journal: Path) -> Iterator[EventLog]:
    with EventLog("call-1", journal=journal, window=10) as event_log:
        yield event_log


def test_append_assigns_seq_time_and_journals_each_line_at_once(journal: Path) -> None:
    clock = FakeClock()
    log = EventLog("call-1", journal=journal, clock=clock)
    first = log.append("call.status", {"status": "in-progress"})
    second = log.append("speech.started", {"party": "customer"})
    assert (first.seq, second.seq) == (1, 2)
    assert first.at == "2026-05-09T07:35:25.373Z"
    assert second.at == "2026-05-09T07:35:25.623Z"
    assert first.type == "call.status" and first.data == {"status": "in-progress"}
    assert log.latest_seq == 2 and len(log) == 2
    # Still open: every line is already with the OS.
    assert journal_lines(journal) == [first.model_dump(), second.model_dump()]
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    log.close()
    log.close()  # idempotent


def test_default_clock_is_utc_with_milliseconds_and_z() -> None:
    event = EventLog("c").append("listen.connected")
    assert AT.fullmatch(event.at)
    assert event.data == {}
    moment = datetime.strptime(event.at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 5


def test_clock_in_another_zone_or_naive_is_written_as_utc() -> None:
    paris = EventLog("c", clock=lambda: datetime(2026, 5, 9, 9, 0, 0, 5000, tzinfo=timezone(timedelta(hours=2))))
    assert paris.append("x").at == "2026-05-09T07:00:00.005Z"
    naive = EventLog("c", clock=lambda: datetime(2026, 5, 9, 9, 0, 0))
    assert naive.append("x").at == "2026-05-09T09:00:00.000Z"


def test_any_type_is_accepted_and_known_types_are_listed() -> None:
    assert "transcript" in EVENT_TYPES and "vapi.message" in EVENT_TYPES and len(set(EVENT_TYPES)) == 22
    assert {"store.unavailable", "call.added", "call.ended"} <= set(EVENT_TYPES)
    assert EventLog("c").append("custom.thing", {"a": 1}).type == "custom.thing"


def test_every_type_the_package_emits_is_listed() -> None:
    """A type appended anywhere in vapi_mcp (a log's literal, an analysis event, a webhook's ``vapi.<type>``,
    an inbox type) is in EVENT_TYPES: a new event type cannot ship undocumented."""
    package = Path(vapi_mcp.__file__).parent
    literal = re.compile(r'(?:log\.append|AudioEvent)\(\s*"([^"]+)"')
    emitted = {
        found
        for path in package.rglob("*.py")
        if "emulator" not in path.relative_to(package).parts  # the fake Vapi emits no events of ours
        for found in literal.findall(path.read_text())
    }
    emitted |= {f"vapi.{kind}" for kind in webhooks.EVENT_TYPES} | set(INBOX_TYPES)
    assert {"call.status", "listen.gap", "silence", "store.unavailable", "call.ended"} <= emitted, "the scan works"
    assert sorted(emitted - set(EVENT_TYPES)) == []


def test_window_slides_but_journal_serves_everything_in_order(log: EventLog) -> None:
    for i in range(35):
        log.append("speech.started", {"i": i})
    page = log.read(after_seq=0, limit=100)
    assert seqs(page) == list(range(1, 36))
    assert [e.data["i"] for e in page.events] == list(range(35))
    assert page.next_seq == 35 and page.latest_seq == 35 and page.dropped_before is None
    assert page.call_id == "call-1"
    # Pages that straddle the journal / memory boundary (memory holds 26..35).
    assert seqs(log.read(after_seq=5, limit=7)) == list(range(6, 13))
    straddle = log.read(after_seq=20, limit=10)
    assert seqs(straddle) == list(range(21, 31)) and straddle.next_seq == 30
    assert seqs(log.read(after_seq=30)) == list(range(31, 36))
    # Events read back from disk equal the in-memory ones field by field.
    assert log.read(after_seq=0, limit=1).events[0] == CallEvent(
        seq=1, at=page.events[0].at, type="speech.started", data={"i": 0}
    )


def test_paging_with_the_cursor_visits_every_event_once(log: EventLog) -> None:
    for i in range(35):
        log.append("transcript", {"i": i})
    seen: list[int] = []
    cursor = 0
    while True:
        page = log.read(after_seq=cursor, limit=4)
        if not page.events:
            break
        seen += seqs(page)
        cursor = page.next_seq
    assert seen == list(range(1, 36))
    assert cursor == 35


def test_without_a_journal_dropped_events_are_reported() -> None:
    log = EventLog("c", window=10)
    for _ in range(35):
        log.append("silence")
    page = log.read(after_seq=0, limit=5)
    assert seqs(page) == [26, 27, 28, 29, 30]
    assert page.dropped_before == 26 and page.next_seq == 30
    rest = log.read(after_seq=page.next_seq)
    assert seqs(rest) == [31, 32, 33, 34, 35] and rest.dropped_before is None
    # A cursor inside the window is not a loss.
    assert log.read(after_seq=25).dropped_before is None
    assert log.read(after_seq=24).dropped_before == 26


def test_type_filter_and_next_seq(log: EventLog) -> None:
    for i in range(1, 36):
        log.append("transcript" if i % 5 == 0 else "speech.started", {"i": i})
    everything = log.read(types={"transcript"})
    assert seqs(everything) == [5, 10, 15, 20, 25, 30, 35] and everything.next_seq == 35
    full_page = log.read(types=["transcript"], limit=3)
    assert seqs(full_page) == [5, 10, 15] and full_page.next_seq == 15  # the last returned event
    # Some matched but the page is not full: skip straight to the latest seq scanned.
    tail = log.read(after_seq=31, types=["transcript", "silence"])
    assert seqs(tail) == [35] and tail.next_seq == 35
    none = log.read(after_seq=0, types=["overlap"])
    assert none.events == [] and none.next_seq == 35  # no rescan of what was already skipped
    assert log.read(types=[]).next_seq == 35
    assert seqs(log.read(after_seq=29, types="transcript")) == [30, 35]  # one type, not its letters
    log.append("overlap", {})
    assert seqs(log.read(after_seq=none.next_seq, types=["overlap"])) == [36]


def test_read_edge_cases(log: EventLog) -> None:
    empty = log.read()
    assert empty.events == [] and empty.next_seq == 0 and empty.latest_seq == 0
    for _ in range(3):
        log.append("x")
    assert log.read(after_seq=3).next_seq == 3
    beyond = log.read(after_seq=99)
    assert beyond.events == [] and beyond.next_seq == 3  # a stale cursor is brought back
    nothing = log.read(after_seq=1, limit=0)
    assert nothing.events == [] and nothing.next_seq == 1
    with pytest.raises(InvalidInput):
        log.read(after_seq=-1)
    with pytest.raises(InvalidInput):
        log.read(limit=-5)


def test_restart_continues_after_a_torn_last_line(journal: Path) -> None:
    log = EventLog("c", journal=journal, window=3)
    for i in range(5):
        log.append("speech.started", {"i": i})
    log.close()
    with journal.open("ab") as f:
        f.write(b'{"seq":6,"at":"2026-05-09T07:35:25.123Z","type":"trans')  # killed mid-write
    reopened = EventLog("c", journal=journal, window=3)
    assert reopened.latest_seq == 5 and len(reopened) == 5
    assert seqs(reopened.read()) == [1, 2, 3, 4, 5]
    event = reopened.append("transcript", {"text": "after restart"})
    assert event.seq == 6
    lines = journal_lines(journal)  # every line parses: the torn one was cut, not glued to
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert seqs(reopened.read()) == [1, 2, 3, 4, 5, 6]
    reopened.close()


def test_restart_skips_corrupt_complete_lines(journal: Path) -> None:
    with EventLog("c", journal=journal) as log:
        log.append("a")
        log.append("b")
    with journal.open("ab") as f:
        f.write(b"not json at all\n")
    with EventLog("c", journal=journal) as log:
        assert log.latest_seq == 2
        assert log.append("c").seq == 3
        assert [e.type for e in log.read().events] == ["a", "b", "c"]


def test_a_hand_edited_journal_with_odd_lines(journal: Path) -> None:
    good = '{{"seq":{},"at":"2026-05-09T07:35:25.123Z","type":"t","data":{{}}}}\n'
    journal.write_text(good.format(1) + '{"seq":2,"type":"t"}\n' + "[1,2]\n\n" + good.format(3), encoding="utf-8")
    with EventLog("c", journal=journal, window=1) as log:
        assert log.latest_seq == 3
        log.append("t")
        assert seqs(log.read()) == [1, 3, 4]
        assert seqs(log.read(types=["t"], limit=1)) == [1]


def test_appends_after_close_stay_in_memory(journal: Path) -> None:
    log = EventLog("c", journal=journal, window=2)
    log.append("a")
    log.close()
    for name in "bcd":
        log.append(name)
    assert len(journal_lines(journal)) == 1
    page = log.read()
    # seq 1 is on disk, 2 is lost (slid out of memory, never journaled), 3-4 are in memory.
    assert seqs(page) == [1] and page.next_seq == 1
    page = log.read(after_seq=1)
    assert seqs(page) == [3, 4] and page.dropped_before == 3


class MemoryJournal:
    """A journal of another kind, through the protocol only: held in a dict, capped like a Redis Stream (the
    oldest seqs trimmed), and able to fail like a full disk (appends then record nothing)."""

    def __init__(self, cap: int = 1_000_000, held: int = 0) -> None:
        self.lines: dict[int, dict[str, Any]] = {}
        self.cap, self.failing, self.closed, self.scans = cap, False, False, 0
        for seq in range(1, held + 1):
            self.append(seq, "2026-05-09T07:35:25.123Z", '"old"', "{}")

    @property
    def first_seq(self) -> int:
        return min(self.lines, default=self.last_seq + 1)

    @property
    def last_seq(self) -> int:
        return max(self.lines, default=0)

    def append(self, seq: int, at: str, type_json: str, data_json: str) -> None:
        if self.failing or self.closed:
            return
        self.lines[seq] = {"seq": seq, "at": at, "type": json.loads(type_json), "data": json.loads(data_json)}
        while len(self.lines) > self.cap:
            del self.lines[min(self.lines)]

    def scan(self, after: int, until: int, *, types: frozenset[str] | None, limit: int, budget: int) -> JournalScan:
        self.scans += 1
        records: list[dict[str, Any]] = []
        for seq in range(after + 1, until + 1):
            record = self.lines.get(seq)
            if record is not None and (types is None or record["type"] in types):
                records.append(record)
                if len(records) >= limit:
                    return JournalScan(records, seq, False)
            budget -= 1
            if budget == 0:
                return JournalScan(records, seq, False)
        return JournalScan(records, until, True)

    def close(self) -> None:
        self.closed = True


def test_a_journal_that_stops_recording_does_not_break_append() -> None:
    journal = MemoryJournal()
    log = EventLog("c", journal=journal, window=5)
    journal.failing = True  # a full disk: the journal keeps what it had and records nothing more
    for _ in range(8):
        log.append("a")
    assert log.latest_seq == 8 and journal.last_seq == 0
    assert log.read().dropped_before == 4 and seqs(log.read()) == [4, 5, 6, 7, 8]


def test_any_journal_through_the_protocol_capped_and_owned_by_the_log() -> None:
    journal = MemoryJournal(cap=20, held=3)
    log = EventLog("c", journal=journal, window=5)
    assert log.latest_seq == 3  # continues the seq the journal holds
    for i in range(4, 31):
        log.append("transcript" if i % 3 == 0 else "speech.started", {"i": i})
    # The cap trimmed seqs 1-10: a reader from the start is told so, and served from the journal and memory.
    assert journal.first_seq == 11
    page = log.read(after_seq=0, limit=100)
    assert seqs(page) == list(range(11, 31)) and page.dropped_before == 11 and page.next_seq == 30
    assert log.read(after_seq=10).dropped_before is None
    assert [e.data["i"] for e in log.read(after_seq=12, limit=3, types=["transcript"]).events] == [15, 18, 21]
    log.close()
    assert journal.closed


def test_the_scan_budget_ends_a_page_early_and_the_cursor_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_SCAN_BUDGET", 4)
    journal = MemoryJournal()
    log = EventLog("c", journal=journal, window=2)
    for i in range(1, 13):
        log.append("transcript" if i == 10 else "speech.started")
    page = log.read(types=["transcript"])
    assert page.events == [] and page.next_seq == 4 and page.latest_seq == 12  # 4 examined, none matched
    cursor, found = 0, []
    while cursor < log.latest_seq:
        page = log.read(after_seq=cursor, types=["transcript"])
        found += seqs(page)
        cursor = page.next_seq
    assert found == [10]


def test_a_record_that_is_not_an_event_is_skipped_and_the_page_filled_on() -> None:
    journal = MemoryJournal()
    log = EventLog("c", journal=journal, window=1)
    for _ in range(6):
        log.append("a")
    journal.lines[2] = {"seq": 2, "type": "a"}  # no "at", no "data": corrupt
    page = log.read(limit=3)
    assert seqs(page) == [1, 3, 4] and page.next_seq == 4 and journal.scans == 2


def test_a_journal_that_cannot_be_read_leaves_memory_served(journal: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = EventLog("c", journal=journal, window=2)
    for _ in range(5):
        log.append("a")
    journal.unlink()
    with caplog.at_level(logging.WARNING, logger="vapi_mcp.listen.events"):
        page = log.read()
    assert seqs(page) == [4, 5] and page.dropped_before == 4
    assert any("cannot read the event journal of call c" in r.getMessage() for r in caplog.records)
    log.close()


def test_listeners_are_called_errors_swallowed_and_unsubscribe(caplog: pytest.LogCaptureFixture) -> None:
    log = EventLog("c")
    got: list[int] = []

    def broken(event: CallEvent) -> None:
        raise RuntimeError("listener bug")

    unsubscribe_broken = log.add_listener(broken)
    unsubscribe = log.add_listener(lambda e: got.append(e.seq))
    with caplog.at_level(logging.ERROR, logger="vapi_mcp.listen.events"):
        log.append("a")
    assert got == [1]
    assert any("listener failed" in r.getMessage() and r.exc_info for r in caplog.records)
    unsubscribe_broken()
    unsubscribe_broken()  # idempotent
    log.append("b")
    unsubscribe()
    log.append("c")
    assert got == [1, 2]


def test_a_listener_may_unsubscribe_or_append_from_its_callback() -> None:
    log = EventLog("c")
    calls: list[str] = []

    def once(event: CallEvent) -> None:
        calls.append(event.type)
        unsubscribe()
        if event.type == "a":
            log.append("follow-up")

    unsubscribe = log.add_listener(once)
    log.append("a")
    log.append("b")
    assert calls == ["a"]
    assert [e.type for e in log.read().events] == ["a", "follow-up", "b"]


def test_oversized_data_is_truncated_in_memory_and_on_disk(journal: Path) -> None:
    log = EventLog("c", journal=journal)
    huge = "word " * 100_000
    event = log.append("transcript", {"role": "user", "text": huge, "final": True})
    assert event.data["truncated"] is True
    assert event.data["role"] == "user" and event.data["final"] is True
    assert event.data["text"].startswith("word word") and event.data["text"].endswith("…")
    assert len(json.dumps(event.data, ensure_ascii=False).encode()) <= MAX_DATA_BYTES
    on_disk = journal_lines(journal)[0]
    assert on_disk["data"] == event.data
    # Multi-byte text is measured in bytes, not characters.
    wide = log.append("transcript", {"text": "日本語" * 5000})
    assert wide.data["truncated"] is True
    assert len(json.dumps(wide.data, ensure_ascii=False).encode()) <= MAX_DATA_BYTES
    # Not a string problem: keep the scalars, drop the bulk.
    numbers = log.append("vapi.message", {"type": "model-output", "values": list(range(100_000))})
    assert numbers.data["truncated"] is True and numbers.data["type"] == "model-output"
    assert "values" not in numbers.data
    # Small data is untouched.
    assert log.append("transcript", {"text": "hello"}).data == {"text": "hello"}
    log.close()


def test_data_is_copied_and_made_json_safe(journal: Path) -> None:
    log = EventLog("c", journal=journal)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    source = {"when": moment, "pair": (1, 2), "level": -math.inf, "nan": math.nan, 3: "int key", "ok": 1.5}
    event = log.append("vapi.message", source)
    assert event.data == {
        "when": str(moment),
        "pair": [1, 2],
        "level": None,
        "nan": None,
        "3": "int key",
        "ok": 1.5,
    }
    source["ok"] = 99  # the caller's dict is not the log's
    assert log.read().events[0].data["ok"] == 1.5
    assert "Infinity" not in journal.read_text() and "NaN" not in journal.read_text()
    cyclic: dict = {"name": "loop"}
    cyclic["self"] = cyclic
    assert log.append("vapi.message", cyclic).data["name"] == "loop"
    tuple_keys = log.append("vapi.message", {(1, 2): "x"})
    assert tuple_keys.data == {"(1, 2)": "x"}
    log.close()


class Level(enum.IntEnum):
    LOUD = 1


class Party(enum.StrEnum):
    CUSTOMER = "customer"


class Money(float):
    pass


def strict(clean: dict) -> list[tuple[str, type, str]]:
    """A dict as (key, type, repr) triples: ``==`` alone says -0.0 == 0.0 and True == 1."""
    return [(k, type(v), repr(v)) for k, v in clean.items()]


def random_scalar(rng: random.Random) -> object:
    kind = rng.randrange(7)
    if kind == 0:
        return "".join(
            chr(rng.choice((rng.randrange(32, 127), rng.randrange(0, 0x3000)))) for _ in range(rng.randrange(12))
        )
    if kind == 1:
        return rng.choice((0, -1, 2**31, -(2**63), 2**70, 10**300, rng.randrange(-(10**9), 10**9)))
    if kind == 2:
        return rng.choice((True, False))
    if kind == 3:
        return None
    while True:  # any finite double, by its bits
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(value):
            return value


FLAT = [
    {"party": "customer", "at_s": 12.34, "duration_s": 1.2},
    {"role": "customer", "text": "yes, Thursday please", "final": True},
    {"role": "assistant", "text": 'héllo ✓ 日本語 😀 \u2028 "quoted" \\ \n\t\x00\x7f', "final": False},
    {
        "n": 2**70,
        "neg": -(10**40),
        "zero": 0,
        "negzero": -0.0,
        "big": 1e300,
        "tiny": 5e-324,
        "max": 1.7976931348623157e308,
    },
    {"flag": True, "one": 1, "off": False, "nil": None, "": "", "ключ": "значение", "a\u0000b": "\U0010ffff"},
    {"x": 0.1 + 0.2, "y": 1e16, "z": 1e-7, "w": 123456789.0},
]


def test_flat_data_fast_path_gives_exactly_the_round_trips_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain dicts of JSON scalars skip the JSON round trip: copy and text must be what the round trip gives."""
    rng = random.Random(7)
    # (A lone surrogate is replaced on both paths: test_lone_surrogates_from_remote_json_are_replaced_not_fatal.)
    cases = [*FLAT] + [{f"k{i}": random_scalar(rng) for i in range(rng.randrange(1, 8))} for _ in range(2000)]
    for data in cases:
        assert eventdata._flat(data), data
        clean, text = eventdata.serialize(data)
        slow_clean, slow_text = eventdata._serialize_slow(data)
        assert text == slow_text
        assert strict(clean) == strict(slow_clean)
        assert strict(json.loads(text)) == strict(clean)
        assert clean is not data and clean == data
    # Without the C encoder (pure-Python builds) the fast path falls back to the module encoder.
    monkeypatch.setattr(eventdata, "_flat_encoder", None)
    for data in FLAT:
        assert eventdata.serialize(data) == eventdata._serialize_slow(data)


def test_fast_path_still_truncates_and_refuses_what_json_refuses() -> None:
    huge = {"role": "user", "text": "y" * (MAX_DATA_BYTES + 10), "final": True}
    assert eventdata._flat(huge)
    clean, text = eventdata.serialize(huge)
    assert clean["truncated"] is True and (clean, text) == eventdata._serialize_slow(huge)
    fits = {"text": "y" * (MAX_DATA_BYTES - 20)}  # just under the cap: untouched
    assert eventdata.serialize(fits) == (fits, json.dumps(fits, separators=(",", ":")))
    wide = {"text": "日" * (MAX_DATA_BYTES // 3)}  # few characters, too many bytes
    assert eventdata.serialize(wide)[0]["truncated"] is True
    for serialize in (eventdata.serialize, eventdata._serialize_slow):
        with pytest.raises(ValueError, match="4300 digits"):  # int too long to print: json raises, both paths
            serialize({"x": 10**5000})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"x": math.nan, "y": 1}, ({"x": None, "y": 1}, '{"x":null,"y":1}')),
        ({"x": -math.inf}, ({"x": None}, '{"x":null}')),
        ({"x": Level.LOUD}, ({"x": 1}, '{"x":1}')),
        ({"x": Party.CUSTOMER}, ({"x": "customer"}, '{"x":"customer"}')),
        ({Party.CUSTOMER: 1}, ({"customer": 1}, '{"customer":1}')),
        ({"x": Money(2.5)}, ({"x": 2.5}, '{"x":2.5}')),
        ({"x": (1, "a")}, ({"x": [1, "a"]}, '{"x":[1,"a"]}')),
        ({"x": {"y": [1.5]}}, ({"x": {"y": [1.5]}}, '{"x":{"y":[1.5]}}')),
        ({1: "a", "b": None}, ({"1": "a", "b": None}, '{"1":"a","b":null}')),
        (collections.OrderedDict(a=1), ({"a": 1}, '{"a":1}')),
        ({"x": b"raw"}, ({"x": "b'raw'"}, '{"x":"b\'raw\'"}')),
    ],
)
def test_data_off_the_fast_path_serializes_as_before(data: dict, expected: tuple[dict, str]) -> None:
    """Outputs recorded from the round-trip-only implementation: subclasses, NaN, containers, odd keys."""
    assert not eventdata._flat(data)
    clean, text = eventdata.serialize(data)
    assert text == expected[1]
    assert strict(clean) == strict(expected[0])
    assert type(clean) is dict and all(type(v) is not Level and type(v) is not Party for v in clean.values())


def reference_line(seq: int, at: str, type_: str, data: dict) -> bytes:
    """A journal line as the format defines it, with the stdlib json module and nothing cached."""
    opts = {"ensure_ascii": False, "separators": (",", ":")}
    return (
        f'{{"seq":{seq},"at":"{at}","type":{json.dumps(type_, **opts)},"data":{json.dumps(data, **opts)}}}\n'.encode()
    )


def test_journal_lines_are_byte_for_byte_the_format(journal: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventdata, "_TYPE_JSON", {})
    log = EventLog("c", journal=journal, clock=FakeClock())
    types = ["transcript", "speech.stopped", 'odd "type" ✓', "t" * 500, Party.CUSTOMER, "transcript"]
    sources = [*FLAT, {"x": math.nan, "t": (1, 2)}, {}]
    expected = b""
    for i, source in enumerate(sources):
        event = log.append(types[i % len(types)], source)
        expected += reference_line(event.seq, event.at, event.type, event.data)
    log.close()
    assert journal.read_bytes() == expected
    assert "t" * 500 not in eventdata._TYPE_JSON and set(eventdata._TYPE_JSON) <= set(types)
    assert all(type(k) is str for k in eventdata._TYPE_JSON)


def test_type_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventdata, "_TYPE_JSON", {})
    for i in range(eventdata._TYPE_JSON_MAX + 100):
        assert eventdata._type_json(f"vapi.{i}") == f'"vapi.{i}"'
    assert len(eventdata._TYPE_JSON) == eventdata._TYPE_JSON_MAX
    assert eventdata._type_json('new "one"') == '"new \\"one\\""'


def isoformat_at(moment: datetime) -> str:
    """The original _format_at, kept as the reference."""
    if moment.tzinfo is None:
        return moment.isoformat(timespec="milliseconds") + "Z"
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def test_format_at_matches_isoformat_for_any_datetime() -> None:
    rng = random.Random(3)
    zones = [
        None,
        UTC,
        timezone(timedelta(hours=2)),
        timezone(timedelta(hours=-5, minutes=-30)),
        timezone(timedelta(hours=1, seconds=7, microseconds=1)),
        ZoneInfo("Europe/Paris"),
        ZoneInfo("UTC"),
    ]
    micros = [0, 999, 1000, 1999, 500_500, 999_999]
    for i in range(3000):
        moment = datetime(
            rng.randrange(2, 9999),
            rng.randrange(1, 13),
            rng.randrange(1, 29),
            rng.randrange(24),
            rng.randrange(60),
            rng.randrange(60),
            micros[i] if i < len(micros) else rng.randrange(1_000_000),
            tzinfo=zones[i % len(zones)],
        )
        assert eventdata._format_at(moment) == isoformat_at(moment), moment
    assert eventdata._format_at(datetime(999, 1, 2, 3, 4, 5, 6789)) == "0999-01-02T03:04:05.006Z"


def test_default_clock_formats_the_wall_clock_like_format_at() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    rng = random.Random(5)
    base = 1_780_000_000 * 10**9
    # Around second boundaries, and jumping back and forth so the per-second cache is hit and replaced.
    samples = [base - 1, base, base + 999_999, base + 1_000_000, base + 999_999_999, base + 10**9, base - 1]
    samples += [rng.randrange(0, 253_402_300_799 * 10**9) for _ in range(2000)]
    for ns in samples:
        assert eventdata._format_ns(ns) == isoformat_at(epoch + timedelta(microseconds=ns // 1000)), ns
    log = EventLog("c")
    assert log._clock is eventdata.utc_now
    before = isoformat_at(datetime.now(UTC))
    at = log.append("x").at
    after = isoformat_at(datetime.now(UTC))
    assert AT.fullmatch(at) and before <= at <= after


def test_listeners_see_a_snapshot_taken_when_dispatch_starts() -> None:
    log = EventLog("c")
    calls: list[tuple[str, int]] = []

    def late(event: CallEvent) -> None:
        calls.append(("late", event.seq))

    def first(event: CallEvent) -> None:
        calls.append(("first", event.seq))
        if event.seq == 1:
            unsubscribe_second()  # already in this dispatch's snapshot: still called for seq 1
            log.add_listener(late)  # not in it: called from seq 2 on

    def second(event: CallEvent) -> None:
        calls.append(("second", event.seq))

    log.add_listener(first)
    unsubscribe_second = log.add_listener(second)
    log.append("a")
    log.append("b")
    assert calls == [("first", 1), ("second", 1), ("first", 2), ("late", 2)]
    # The same callback twice is called twice, and each unsubscribe removes one.
    twice: list[int] = []
    log2 = EventLog("c")
    off = [log2.add_listener(twice.append), log2.add_listener(twice.append)]
    log2.append("a")
    off[0]()
    log2.append("b")
    off[1]()
    off[1]()
    log2.append("c")
    assert [e.seq for e in twice] == [1, 1, 2]


def test_append_timing_is_printed_not_asserted(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = 20_000
    data = {"party": "customer", "t_s": 12.34}
    for label, log in (("memory", EventLog("c")), ("journal", EventLog("c", journal=journal))):
        start = time.perf_counter()
        for _ in range(n):
            log.append("speech.started", data)
        per = (time.perf_counter() - start) / n * 1e6
        log.close()
        with capsys.disabled():
            print(f"\nEventLog.append ({label}): {per:.1f} µs per event")
    assert log.latest_seq == n


def test_lone_surrogates_from_remote_json_are_replaced_not_fatal(journal: Path) -> None:
    """``"\\ud800"`` in a listen frame's JSON becomes a lone surrogate, which UTF-8 cannot encode: the event is
    kept with U+FFFD in its place (a proper pair becomes its character), in memory and in the journal."""
    log = EventLog("c", journal=journal)
    remote = json.loads('{"role":"customer","text":"a\\ud800b \\ud83d\\ude00","nested":{"k\\udfff":["\\udc00"]}}')
    first = log.append("transcript", {"role": remote["role"], "text": remote["text"], "final": True})
    second = log.append("vapi.message", remote)
    third = log.append("odd\udfff.type", {"x": 1})
    assert first.data["text"] == "a\ufffdb \U0001f600"
    assert second.data["nested"] == {"k\ufffd": ["\ufffd"]}
    assert third.type == "odd\ufffd.type"
    on_disk = journal_lines(journal)
    assert [line["data"] for line in on_disk] == [first.data, second.data, third.data]
    assert on_disk[2]["type"] == "odd\ufffd.type"
    assert json.dumps([e.model_dump() for e in log.read().events], ensure_ascii=False).encode("utf-8")
