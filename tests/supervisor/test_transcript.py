"""The transcript cache: the same text as a full rescan, built incrementally, bounded."""

from __future__ import annotations

from pathlib import Path

from vapi_mcp.listen.events import EventLog
from vapi_mcp.supervisor.transcript import TranscriptCache


def fill(log: EventLog, start: int, count: int) -> None:
    for i in range(start, start + count):
        log.append("speech.started", {"party": "customer"})
        log.append("transcript", {"role": "user", "text": f"partial {i}", "final": False})
        log.append("transcript", {"role": "user" if i % 2 else "assistant", "text": f"line {i}", "final": True})


def test_incremental_reads_match_a_full_rescan(tmp_path: Path) -> None:
    log = EventLog("c-1", journal=tmp_path / "events.jsonl", window=16)
    cache = TranscriptCache()
    fill(log, 0, 700)
    first = cache.read(log)
    fill(log, 700, 5)
    second = cache.read(log)
    assert second == TranscriptCache().read(log), "incremental equals a rescan from the start"
    assert second.startswith(first) and second.count("\n") == 705
    assert "partial" not in second and second.splitlines()[1] == "user: line 1"
    assert cache.read(log) == second, "reading again without news changes nothing"


def test_the_text_is_bounded_and_says_what_it_left_out(tmp_path: Path) -> None:
    log = EventLog("c-1", journal=tmp_path / "events.jsonl")
    fill(log, 0, 100)
    text = TranscriptCache(max_chars=200).read(log)
    lines = text.splitlines()
    assert lines[0].startswith("[") and "earlier lines omitted" in lines[0]
    assert lines[-1] == "user: line 99" and len(text) < 300
