"""The index of the calls on disk, on data dirs made by hand as a killed process leaves them (no Vapi, no MCP)."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import numpy as np
import pytest

from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.recorder import WavRecorder
from vapi_mcp.store.local import LocalStore
from vapi_mcp.supervisor.archive import CallArchive
from vapi_mcp.supervisor.calls import SupervisedCall
from vapi_mcp.vapi import Call

AT = "2026-05-09T07:35:25.123Z"


def journal_line(seq: int, type_: str, data: dict[str, object]) -> bytes:
    return json.dumps({"seq": seq, "at": AT, "type": type_, "data": data}).encode() + b"\n"


def make_call(store: LocalStore, call_id: str, status: str, *, events: int = 3, summary: bool = False) -> None:
    call = Call.model_validate(
        {
            "id": call_id,
            "status": status,
            "createdAt": AT,
            "monitor": {"listenUrl": "wss://secret.example/listen", "controlUrl": "https://secret.example/c"},
        }
    )
    log = EventLog(call_id, journal=store.open_journal(call_id))
    sup = SupervisedCall(call=call, log=log, final_summary={"call_id": call_id} if summary else None)
    if summary:  # what webhooks bring (issue 10): kept with the final summary
        sup.report = {"endedReason": "customer-ended-call", "analysis": {"summary": "Billing question."}}
        sup.conversation = [{"role": "user", "message": "Hi"}]
    for _ in range(events):
        log.append("call.status", {"status": status})
    CallArchive(store).save(sup)
    log.close()


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "data")


def test_every_call_is_indexed_with_its_status_and_event_count(store: LocalStore) -> None:
    make_call(store, "call-ended", "ended", events=5)
    make_call(store, "call-live", "in-progress", events=2)
    archive = CallArchive(store)
    report = archive.scan()
    archive.add(report)
    infos = {info.call_id: info for info in archive.infos()}
    assert infos["call-ended"].status == "ended" and infos["call-ended"].event_count == 5
    assert infos["call-ended"].supervised and not infos["call-ended"].listening
    assert infos["call-ended"].resources is not None
    assert [info.call_id for info in report.unfinished] == ["call-live"]
    assert (report.torn_lines, report.unreadable) == (0, 0)
    assert [info.call_id for info in archive.infos(exclude={"call-live"})] == ["call-ended"]


def test_snapshots_never_hold_a_monitor_url(store: LocalStore) -> None:
    make_call(store, "call-1", "in-progress")
    text = (store.root / "calls" / "call-1" / "call.json").read_text()
    assert "secret.example" not in text and "monitor" not in text
    assert json.loads(text)["call"]["createdAt"] == AT


def test_a_kill_9_leaves_a_torn_journal_line_and_a_stale_wav_header_both_read(
    store: LocalStore, caplog: pytest.LogCaptureFixture
) -> None:
    # No snapshot at all (killed before the first one): the status comes from the journal.
    folder = store.root / "calls" / "call-1"
    store.open_journal("call-1").close()
    (folder / "events.jsonl").write_bytes(
        journal_line(1, "call.status", {"status": "in-progress"}) + b'{"seq":2,"at":"' + AT.encode()  # torn
    )
    audio = np.full((16000, 2), 1000, dtype=np.int16)
    with WavRecorder(folder / "recording.wav") as recorder:
        recorder.write(audio)
    with open(folder / "recording.wav", "r+b") as f:  # the header as a kill before its update leaves it
        f.seek(40)
        f.write(struct.pack("<I", 0))
    archive = CallArchive(store)
    with caplog.at_level(logging.WARNING):
        report = archive.scan()
    archive.add(report)
    assert report.torn_lines == 1 and any("torn last line" in r.getMessage() for r in caplog.records)
    (info,) = archive.infos()
    assert (info.status, info.event_count) == ("in-progress", 1)
    assert struct.unpack_from("<I", (folder / "recording.wav").read_bytes(), 40)[0] == audio.nbytes, "repaired"
    loaded = archive.load("call-1")
    assert loaded is not None
    assert (loaded.call.status, loaded.final_summary) == ("in-progress", None)
    assert loaded.log.append("listen.connected", {}).seq == 2, "the seq goes on after the last whole line"
    loaded.log.close()


def test_odd_entries_never_hide_the_other_calls(store: LocalStore, caplog: pytest.LogCaptureFixture) -> None:
    make_call(store, "call-good", "ended", summary=True)
    make_call(store, "call-corrupt", "ended")
    (store.root / "calls" / "call-corrupt" / "call.json").write_text("{not json")
    (store.root / "calls" / "not a call id").mkdir()
    (store.root / "calls" / "empty").mkdir()
    archive = CallArchive(store)
    with caplog.at_level(logging.WARNING):
        archive.add(archive.scan())
    infos = {info.call_id: info for info in archive.infos()}
    assert set(infos) == {"call-good", "call-corrupt"}
    assert infos["call-corrupt"].status == "ended", "from its journal when the snapshot is corrupt"
    loaded = archive.load("call-good")
    assert loaded is not None and loaded.final_summary == {"call_id": "call-good"}
    assert loaded.report is not None and loaded.report["analysis"] == {"summary": "Billing question."}
    assert loaded.conversation == [{"role": "user", "message": "Hi"}]
    loaded.log.close()
    assert archive.load("call-missing") is None and archive.load("../../etc") is None
