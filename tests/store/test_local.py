"""LocalStore on real temp dirs: the call folders, the index of calls, snapshots, permissions."""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from vapi_mcp.errors import DataDirUnsafe, InvalidInput
from vapi_mcp.store import local
from vapi_mcp.store.base import CallStore
from vapi_mcp.store.journal import JsonlJournal
from vapi_mcp.store.local import LocalStore


@pytest.fixture(autouse=True)
def wide_open_umask() -> Iterator[None]:
    """Umask 0 throughout: every 0700 and 0600 seen below is then the store's doing."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return (tmp_path / "data").resolve()


@pytest.fixture
def store(root: Path) -> LocalStore:
    return LocalStore(root)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_store_seam_and_its_root(store: LocalStore, root: Path) -> None:
    seam: CallStore = store  # the protocol, statically
    assert seam.root == root
    assert repr(store) == f"LocalStore(root={str(root)!r})"
    assert not root.exists()  # nothing happens until a call needs a folder


def test_open_journal_creates_the_private_call_folder_and_continues_on_reopen(store: LocalStore, root: Path) -> None:
    journal = store.open_journal("call-1")
    assert isinstance(journal, JsonlJournal)
    assert journal.path == root / "calls" / "call-1" / "events.jsonl"
    for folder in (root, root / "calls", root / "calls" / "call-1"):
        assert mode_of(folder) == 0o700, folder
    assert mode_of(journal.path) == 0o600
    journal.append(1, "2026-05-09T07:35:25.123Z", '"call.status"', "{}")
    journal.close()
    with store.open_journal("call-1") as again:
        assert again.last_seq == 1


def test_recording_path_creates_the_folder_not_the_file(store: LocalStore, root: Path) -> None:
    path = store.recording_path("call-2")
    assert path == root / "calls" / "call-2" / "recording.wav"
    assert mode_of(path.parent) == 0o700 and not path.exists()


@pytest.mark.parametrize("bad", ["", "..", "a/b", "../escape", "x" * 65, "sp ace", "new\nline", "dot.json"])
def test_unsafe_call_ids_are_refused_before_touching_the_disk(store: LocalStore, root: Path, bad: str) -> None:
    for use in (store.open_journal, store.recording_path, store.read_snapshot):
        with pytest.raises(InvalidInput):
            use(bad)
    with pytest.raises(InvalidInput):
        store.write_snapshot(bad, {"a": 1})
    assert not root.exists()


def test_call_ids_is_the_sorted_index_of_call_folders(store: LocalStore, root: Path) -> None:
    assert store.call_ids() == []
    assert not root.exists()  # listing creates nothing
    for call_id in ("b-2", "a-1", "c_3"):
        store.open_journal(call_id).close()
    store.recording_path("d-4").write_bytes(b"RIFF")
    store.write_snapshot("e-5", {"status": "ended"})
    assert store.call_ids() == ["a-1", "b-2", "c_3", "d-4", "e-5"]


def test_call_ids_ignores_junk(store: LocalStore, root: Path, tmp_path: Path) -> None:
    store.open_journal("real").close()
    calls = root / "calls"
    (calls / "stray.txt").write_text("x")  # a file, and a name no call has
    (calls / "loose-file").write_text("x")  # a file with a call's name
    (calls / ".tmp").mkdir()  # not a call id
    (calls / "sp ace").mkdir()
    (calls / "sp ace" / "events.jsonl").write_text("")
    (calls / "emptied").mkdir()  # a folder with none of a call's files
    (calls / "odd").mkdir()
    (calls / "odd" / "notes.md").write_text("x")
    (calls / "dir-named-like-a-file").mkdir()
    (calls / "dir-named-like-a-file" / "events.jsonl").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "events.jsonl").write_text("")
    (calls / "linked").symlink_to(elsewhere)  # a symlinked call folder
    (calls / "link-inside").mkdir()
    (calls / "link-inside" / "events.jsonl").symlink_to(elsewhere / "events.jsonl")
    assert store.call_ids() == ["real"]


def test_call_ids_when_calls_is_not_a_folder(store: LocalStore, root: Path) -> None:
    root.mkdir()
    (root / "calls").write_text("not a folder")
    assert store.call_ids() == []


def test_snapshot_round_trip_private_and_replaced_whole(store: LocalStore, root: Path) -> None:
    assert store.read_snapshot("call-1") is None
    assert not (root / "calls" / "call-1").exists()  # reading creates nothing
    first = {"status": "ended", "summary": {"talk_s": 12.5, "parties": ["customer", "assistant"]}, "n": None}
    store.write_snapshot("call-1", first)
    path = root / "calls" / "call-1" / "call.json"
    assert mode_of(path) == 0o600 and mode_of(path.parent) == 0o700
    assert store.read_snapshot("call-1") == first
    second = {"status": "ended", "text": "日本語 ✓"}
    store.write_snapshot("call-1", second)
    assert store.read_snapshot("call-1") == second
    assert json.loads(path.read_text(encoding="utf-8")) == second
    assert sorted(p.name for p in path.parent.iterdir()) == ["call.json"]  # no temp file left


def test_data_that_is_not_json_is_refused_and_the_old_snapshot_kept(store: LocalStore, root: Path) -> None:
    store.write_snapshot("c", {"v": 1})
    with pytest.raises(ValueError):
        store.write_snapshot("c", {"level": -math.inf})
    with pytest.raises(TypeError):
        store.write_snapshot("c", {"when": object()})
    assert store.read_snapshot("c") == {"v": 1}
    assert sorted(p.name for p in (root / "calls" / "c").iterdir()) == ["call.json"]


def test_a_failed_replace_leaves_the_old_snapshot_and_no_temp(
    store: LocalStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_snapshot("c", {"v": 1})

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local.os, "replace", crash)
    with pytest.raises(OSError):
        store.write_snapshot("c", {"v": 2})
    monkeypatch.undo()
    assert store.read_snapshot("c") == {"v": 1}
    assert sorted(p.name for p in (root / "calls" / "c").iterdir()) == ["call.json"]


@pytest.mark.parametrize(
    "content",
    [
        b'{"status":"ended","summ',  # torn (a copy that was not atomic, or a hand edit)
        b"",
        b"[1, 2, 3]",  # JSON, not an object
        b'"just a string"',
        b"\xff\xfe not utf-8",
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser goes
        b'{"v": NaN}x',
    ],
)
def test_a_corrupt_snapshot_reads_as_none_with_a_warning(
    store: LocalStore, root: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store.write_snapshot("call-1", {"v": 1})
    (root / "calls" / "call-1" / "call.json").write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="vapi_mcp.store.local"):
        assert store.read_snapshot("call-1") is None
    assert any("snapshot of call call-1" in r.getMessage() for r in caplog.records)


def test_an_unreadable_snapshot_reads_as_none(store: LocalStore, root: Path, tmp_path: Path) -> None:
    folder = store.recording_path("as-folder").parent
    (folder / "call.json").mkdir()
    assert store.read_snapshot("as-folder") is None
    outside = tmp_path / "outside.json"
    outside.write_text('{"planted": true}')
    folder = store.recording_path("linked").parent
    (folder / "call.json").symlink_to(outside)
    assert store.read_snapshot("linked") is None  # never followed out of the data dir


def test_a_symlinked_call_folder_is_refused_for_writing(store: LocalStore, root: Path, tmp_path: Path) -> None:
    store.open_journal("real").close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "calls" / "planted").symlink_to(elsewhere)
    with pytest.raises(DataDirUnsafe):
        store.open_journal("planted")
    with pytest.raises(DataDirUnsafe):
        store.write_snapshot("planted", {"v": 1})
    assert list(elsewhere.iterdir()) == []


def test_holds_last_written_and_remove_call(store: LocalStore, root: Path) -> None:
    assert not store.holds("call-1") and not store.holds("../etc") and store.existing_journal("call-1") is None
    store.write_snapshot("call-1", {"a": 1})
    assert store.holds("call-1") and store.existing_journal("call-1") is None, "reading creates no journal"
    assert not (root / "calls" / "call-1" / "events.jsonl").exists()
    with store.open_journal("call-1") as journal:
        journal.append(1, "2026-05-09T07:35:25.123Z", '"call.status"', "{}")
    os.utime(root / "calls" / "call-1" / "call.json", (1_000_000, 1_000_000))
    written = store.last_written("call-1")
    assert written is not None and written > 1_000_000, "the newest of the call's files"
    with store.existing_journal("call-1") as journal:  # type: ignore[union-attr]
        assert journal.last_seq == 1
    (root / "calls" / "call-1" / "stray.tmp").write_text("x")
    store.remove_call("call-1")
    assert not (root / "calls" / "call-1").exists() and store.call_ids() == []
    store.remove_call("call-1")  # nothing there: nothing to do
    assert store.last_written("call-2") is None


def test_remove_call_never_follows_a_symlinked_folder(store: LocalStore, root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "events.jsonl").write_text("keep me\n")
    store.write_snapshot("call-1", {"a": 1})
    (root / "calls" / "call-2").symlink_to(elsewhere)
    with pytest.raises(DataDirUnsafe):
        store.remove_call("call-2")
    assert (elsewhere / "events.jsonl").read_text() == "keep me\n"


def test_the_inbox_journal_lives_beside_the_calls_and_is_no_call(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "data")
    journal = store.open_inbox_journal()
    journal.append(1, "2026-01-01T00:00:00.000Z", '"alert"', '{"call_id":"c"}')
    journal.close()
    assert store.call_ids() == []
    again = store.open_inbox_journal()
    assert again.last_seq == 1, "the inbox continues its seq after a restart"
    again.close()
