from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from vapi_mcp.errors import DataDirUnsafe, InvalidInput
from vapi_mcp.store.files import CallStorage, default_data_dir, make_private_dirs, open_private, validate_call_id


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_call_dir_is_created_private_root_included(tmp_path: Path, permissive_umask: None) -> None:
    root = tmp_path / "deep" / "data"
    storage = CallStorage(root)
    folder = storage.call_dir("call_123-abc")
    assert folder == root / "calls" / "call_123-abc"
    for created in (tmp_path / "deep", root, root / "calls", folder):
        assert created.is_dir()
        assert mode_of(created) == 0o700, created
    # Idempotent, and a second call shares the calls/ folder.
    assert storage.call_dir("call_123-abc") == folder
    assert mode_of(storage.call_dir("other").parent) == 0o700


def test_existing_parents_are_left_alone(tmp_path: Path, permissive_umask: None) -> None:
    tmp_path.chmod(0o755)
    CallStorage(tmp_path).call_dir("x")
    assert mode_of(tmp_path) == 0o755
    assert mode_of(tmp_path / "calls") == 0o700


def test_even_a_restrictive_umask_gives_usable_folders(tmp_path: Path) -> None:
    old = os.umask(0o777)
    try:
        folder = make_private_dirs(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert mode_of(folder) == 0o700
    assert mode_of(folder.parent) == 0o700


def test_file_paths(tmp_path: Path) -> None:
    storage = CallStorage(tmp_path)
    assert storage.events_path("abc") == tmp_path / "calls" / "abc" / "events.jsonl"
    assert storage.recording_path("abc") == tmp_path / "calls" / "abc" / "recording.wav"
    assert (tmp_path / "calls" / "abc").is_dir()


@pytest.mark.parametrize(
    "bad", ["../x", "..", ".", "/etc", "a/b", "a\\b", "", "x" * 65, "abc\n", "a b", "a.b", "é", "a\x00"]
)
def test_invalid_call_ids_are_refused_before_touching_disk(tmp_path: Path, bad: str) -> None:
    storage = CallStorage(tmp_path / "root")
    with pytest.raises(InvalidInput):
        storage.call_dir(bad)
    with pytest.raises(InvalidInput):
        storage.events_path(bad)
    with pytest.raises(InvalidInput):
        storage.recording_path(bad)
    assert list(tmp_path.iterdir()) == []


def test_longest_valid_call_id(tmp_path: Path) -> None:
    call_id = "A-z_0" * 12 + "abcd"
    assert len(call_id) == 64
    assert validate_call_id(call_id) == call_id
    folder = CallStorage(tmp_path).call_dir(call_id)
    assert folder.parent.parent == tmp_path


def test_non_string_call_id(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        validate_call_id(123)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["ab", "wb", "w", "a", "xb", "w+b", "a+b"])
def test_open_private_creates_0600(tmp_path: Path, permissive_umask: None, mode: str) -> None:
    path = tmp_path / f"f-{mode.replace('+', 'p')}"
    with open_private(path, mode) as f:
        f.write(b"hi" if "b" in mode else "hi")
    assert mode_of(path) == 0o600
    assert path.read_bytes() == b"hi"


def test_open_private_tightens_an_existing_file_and_keeps_modes(tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_bytes(b"one\n")
    path.chmod(0o644)
    with open_private(path, "a", encoding="utf-8") as f:
        f.write("two\n")
    assert mode_of(path) == 0o600
    assert path.read_text() == "one\ntwo\n"
    with open_private(path, "rb") as f:
        assert f.read() == b"one\ntwo\n"
    with pytest.raises(FileExistsError):
        open_private(path, "xb")
    with pytest.raises(ValueError, match="unsupported"):
        open_private(path, "q")


def test_default_data_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VAPI_MCP_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "vapi-mcp"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/is/ignored")
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "vapi-mcp"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "vapi-mcp"
    monkeypatch.setenv("VAPI_MCP_DATA_DIR", "")
    assert default_data_dir() == tmp_path / "xdg" / "vapi-mcp"
    monkeypatch.setenv("VAPI_MCP_DATA_DIR", "~/calls-data")
    assert default_data_dir() == tmp_path / "home" / "calls-data"


# ------------------------------------------------------------------ issue 8, defect 7: symlinks and loose modes

CALL = "7420f27a-30fd-4f49-a995-5549ae7cc00d"
NOBODY = 65534


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the data dir holding a file an attacker would like us to append to and chmod."""
    folder = tmp_path / "outside"
    folder.mkdir()
    target = folder / "events.jsonl"
    target.write_bytes(b"precious\n")
    target.chmod(0o644)
    return folder


def untouched(folder: Path) -> bool:
    target = folder / "events.jsonl"
    return target.read_bytes() == b"precious\n" and mode_of(target) == 0o644


def test_the_reported_attack_is_refused(
    tmp_path: Path, outside: Path, permissive_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    """calls/ pre-created 0777 and calls/<id> a symlink: refused, nothing outside touched, calls/ repaired."""
    root = tmp_path / "data"
    (root / "calls").mkdir(parents=True)
    (root / "calls").chmod(0o777)
    (root / "calls" / CALL).symlink_to(outside, target_is_directory=True)
    storage = CallStorage(root)
    with caplog.at_level(logging.WARNING, logger="vapi_mcp.store.files"):
        with pytest.raises(DataDirUnsafe, match="symbolic link"):
            storage.events_path(CALL)
    assert mode_of(root / "calls") == 0o700
    assert any("777" in r.getMessage() and "700" in r.getMessage() for r in caplog.records)
    # The path the old code handed to the event log: open_private refuses it by itself too.
    for mode in ("ab", "a+b", "wb", "r+b", "rb"):
        with pytest.raises(DataDirUnsafe):
            open_private(root / "calls" / CALL / "events.jsonl", mode)
    assert untouched(outside)


def test_a_symlinked_calls_folder_is_refused(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (outside / CALL).mkdir()
    (root / "calls").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DataDirUnsafe, match="calls is a symbolic link"):
        CallStorage(root).recording_path(CALL)
    assert untouched(outside)


@pytest.mark.parametrize("mode", ["ab", "a+b", "wb", "w+b", "r+b", "rb", "xb"])
def test_a_symlinked_file_is_refused_and_left_as_it_was(tmp_path: Path, outside: Path, mode: str) -> None:
    folder = CallStorage(tmp_path / "data").call_dir(CALL)
    (folder / "events.jsonl").symlink_to(outside / "events.jsonl")
    with pytest.raises((DataDirUnsafe, FileExistsError)):
        open_private(folder / "events.jsonl", mode)
    assert untouched(outside)  # not appended, not truncated, not chmod-ed


def test_a_hard_link_is_refused(tmp_path: Path, outside: Path) -> None:
    folder = CallStorage(tmp_path / "data").call_dir(CALL)
    os.link(outside / "events.jsonl", folder / "events.jsonl")
    with pytest.raises(DataDirUnsafe, match="hard links"):
        open_private(folder / "events.jsonl", "ab")
    assert untouched(outside)


@pytest.mark.parametrize("mode", ["ab", "rb", "r+b"])
def test_a_planted_fifo_is_refused_at_once(tmp_path: Path, mode: str) -> None:
    folder = CallStorage(tmp_path / "data").call_dir(CALL)
    fifo = folder / "recording.wav"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            open_private(fifo, mode).close()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # a blocking open waits for a peer: be that peer, so the test ends, and fail
        os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))
        worker.join(5)
        pytest.fail("open_private blocked on a FIFO")
    assert len(outcome) == 1 and isinstance(outcome[0], DataDirUnsafe)


def test_a_file_where_the_call_folder_should_be_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "calls").mkdir(parents=True)
    (root / "calls" / CALL).write_bytes(b"")
    with pytest.raises(DataDirUnsafe, match="not a folder"):
        CallStorage(root).call_dir(CALL)


def test_loose_folders_of_ours_are_repaired_and_logged(
    tmp_path: Path, permissive_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "data"
    (root / "calls" / CALL).mkdir(parents=True)
    root.chmod(0o777)
    (root / "calls").chmod(0o755)
    (root / "calls" / CALL).chmod(0o770)
    loose_file = root / "calls" / CALL / "events.jsonl"
    loose_file.write_bytes(b"old\n")
    loose_file.chmod(0o666)
    with caplog.at_level(logging.WARNING, logger="vapi_mcp.store.files"):
        path = CallStorage(root).events_path(CALL)
        with open_private(path, "ab") as f:
            f.write(b"new\n")
    assert [mode_of(p) for p in (root, root / "calls", root / "calls" / CALL, loose_file)] == [0o700] * 3 + [0o600]
    assert loose_file.read_bytes() == b"old\nnew\n"
    assert len([r for r in caplog.records if "set it to 700" in r.getMessage()]) == 3


def test_open_private_tightens_its_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    folder.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="vapi_mcp.store.files"), open_private(folder / "x", "wb") as f:
        f.write(b"x")
    assert mode_of(folder) == 0o700 and caplog.records


def test_a_symlinked_data_dir_is_the_operators_choice(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    path = CallStorage(tmp_path / "link").events_path(CALL)
    assert path == real / "calls" / CALL / "events.jsonl"
    with open_private(path, "ab") as f:
        f.write(b"ok\n")
    assert (real / "calls" / CALL / "events.jsonl").read_bytes() == b"ok\n"


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


@needs_root
@pytest.mark.parametrize("which", ["root", "calls", "call", "file"])
def test_another_users_entries_are_refused_not_repaired(tmp_path: Path, which: str) -> None:
    root = tmp_path / "data"
    storage = CallStorage(root)
    folder = storage.call_dir(CALL)
    (folder / "events.jsonl").write_bytes(b"theirs\n")
    target = {"root": root, "calls": root / "calls", "call": folder, "file": folder / "events.jsonl"}[which]
    target.chmod(0o777 if target.is_dir() else 0o666)
    os.chown(target, NOBODY, NOBODY)
    with pytest.raises(DataDirUnsafe, match="another user"):
        open_private(storage.events_path(CALL), "ab")
    assert stat.S_IMODE(target.stat().st_mode) in (0o777, 0o666)  # not chmod-ed
    assert (folder / "events.jsonl").read_bytes() == b"theirs\n"


def test_readers_can_walk_without_creating(tmp_path: Path, outside: Path) -> None:
    storage = CallStorage(tmp_path / "data")
    with pytest.raises(FileNotFoundError):
        storage.call_dir(CALL, create=False)
    assert not (tmp_path / "data").exists()
    folder = storage.call_dir(CALL)
    assert storage.call_dir(CALL, create=False) == folder
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)
    with pytest.raises(DataDirUnsafe, match="symbolic link"):
        storage.call_dir(CALL, create=False)
