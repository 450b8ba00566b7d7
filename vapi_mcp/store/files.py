"""Where a supervised call's files live: ``<data dir>/calls/<call_id>/``.

Event journals and recordings hold what customers said on the phone, so everything here is private to the
user running the server: folders 0700, files 0600, whatever the process umask. A call id comes from Vapi or
from an agent's tool argument, so it is checked against a strict pattern before it becomes a path: no
``..``, no separators, nothing that could point outside the data directory.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import IO, Any

from vapi_mcp.errors import InvalidInput

__all__ = [
    "EVENTS_FILENAME",
    "RECORDING_FILENAME",
    "CallStorage",
    "default_data_dir",
    "make_private_dirs",
    "open_private",
    "validate_call_id",
]

EVENTS_FILENAME = "events.jsonl"
RECORDING_FILENAME = "recording.wav"

_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DIR_MODE = 0o700
_FILE_MODE = 0o600


def validate_call_id(call_id: str) -> str:
    """Return ``call_id`` if it is safe to use as one path component, else raise :class:`InvalidInput`.

    ``fullmatch`` rather than ``match`` with ``$``: ``$`` would accept a trailing newline.
    """
    if not isinstance(call_id, str) or _CALL_ID.fullmatch(call_id) is None:
        shown = call_id[:80] if isinstance(call_id, str) else type(call_id).__name__
        raise InvalidInput(f"invalid call id {shown!r}: expected 1-64 characters among A-Z a-z 0-9 _ -")
    return call_id


def default_data_dir() -> Path:
    """The data directory: ``$VAPI_MCP_DATA_DIR``, else ``$XDG_DATA_HOME/vapi-mcp``, else
    ``~/.local/share/vapi-mcp``.

    Follows the XDG base-directory spec by hand (no ``platformdirs`` dependency): an empty or relative
    ``XDG_DATA_HOME`` is ignored, as the spec requires.
    """
    explicit = os.environ.get("VAPI_MCP_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "vapi-mcp"
    return Path.home() / ".local" / "share" / "vapi-mcp"


def make_private_dirs(path: Path) -> Path:
    """Create ``path`` and any missing parents, each new folder with mode 0700.

    ``os.makedirs(mode=...)`` is filtered by the umask and does not apply the mode to intermediate folders,
    so each missing component is created and then ``chmod``-ed explicitly. Folders that already exist are
    left as they are: they may be shared parents such as ``~/.local/share``.
    """
    path = Path(path)
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, _DIR_MODE)
        except FileExistsError:
            # Created concurrently (another call's folder, another process): fine if it is a folder.
            if not folder.is_dir():
                raise
            continue
        os.chmod(folder, _DIR_MODE)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a directory")
    return path


def _flags_for(mode: str) -> int:
    if "b" not in mode and "t" not in mode:
        mode += "t"
    kind = mode.replace("b", "").replace("t", "")
    table = {
        "r": os.O_RDONLY,
        "r+": os.O_RDWR,
        "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
        "w+": os.O_RDWR | os.O_CREAT | os.O_TRUNC,
        "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
        "a+": os.O_RDWR | os.O_CREAT | os.O_APPEND,
        "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
        "x+": os.O_RDWR | os.O_CREAT | os.O_EXCL,
    }
    if kind not in table:
        raise ValueError(f"unsupported file mode {mode!r}")
    return table[kind] | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def open_private(path: Path, mode: str = "ab", **kwargs: Any) -> IO[Any]:
    """``open()`` for our data files: a file this creates is 0600 from its first byte.

    ``os.open(..., 0o600)`` makes the file private at creation (no window where it is world-readable); a
    writable open also ``fchmod``-s an existing regular file to 0600, so a file left by a looser tool or an
    umask like 0o377 ends up exactly 0600. ``kwargs`` go to :func:`os.fdopen` (``buffering``, ``encoding``…).
    """
    flags = _flags_for(mode)
    fd = os.open(path, flags, _FILE_MODE)
    try:
        if flags & (os.O_WRONLY | os.O_RDWR) and hasattr(os, "fchmod"):
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) != _FILE_MODE:
                os.fchmod(fd, _FILE_MODE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


class CallStorage:
    """Maps call ids to their private folder under ``root``; creates folders on first use."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).expanduser()

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"CallStorage(root={str(self._root)!r})"

    def call_dir(self, call_id: str) -> Path:
        """``root/calls/<call_id>/``, created (0700, root included) if missing."""
        validate_call_id(call_id)
        calls = self._root / "calls"
        folder = calls / call_id
        # Belt and braces: the pattern already forbids separators and dots, but the invariant that matters
        # is "never outside root", so check it on the resolved path too.
        if os.path.dirname(os.path.normpath(folder)) != os.path.normpath(calls):
            raise InvalidInput(f"invalid call id {call_id!r}: escapes the data directory")
        return make_private_dirs(folder)

    def events_path(self, call_id: str) -> Path:
        return self.call_dir(call_id) / EVENTS_FILENAME

    def recording_path(self, call_id: str) -> Path:
        return self.call_dir(call_id) / RECORDING_FILENAME
