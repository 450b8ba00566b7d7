from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from vapi_mcp.errors import InvalidInput
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
