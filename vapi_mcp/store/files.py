"""Where a supervised call's files live: ``<data dir>/calls/<call_id>/``.

Event journals and recordings hold what customers said on the phone, so everything here is private to the
user running the server: folders 0700, files 0600, whatever the process umask. A call id comes from Vapi or
from an agent's tool argument, so it passes the one id rule (:mod:`vapi_mcp.ids`) before it becomes a path.

The data dir may also have been prepared, or tampered with, by someone else (issue 8, defect 7: ``calls/``
pre-created 0777 and ``calls/<id>`` a symlink made the server append to, and ``chmod``, a file outside the
data dir). So from the data dir down nothing is followed or trusted by name:

- folders are walked with ``openat(..., O_NOFOLLOW | O_DIRECTORY)`` from the data dir's descriptor, and files
  opened with ``O_NOFOLLOW`` inside their folder's descriptor: a symlink anywhere below the data dir is
  refused, and nothing can be swapped between the check and the use;
- an entry owned by another user is refused (:class:`~vapi_mcp.errors.DataDirUnsafe`): whoever owns a folder
  decides what it holds;
- a folder of ours that is too open (group or other bits) is repaired to 0700 and a warning is logged, since
  that is what a loose umask or an old version leaves behind; a hard-linked file (``st_nlink > 1``) is
  refused, as it may be someone's file linked in while the folder was open.

The data dir itself is the operator's choice: symlinks in *its* path are followed (resolved once per use),
and only its owner and write bits are checked (an existing 0755 data dir is left alone; a group- or
world-writable one of ours is tightened, since anyone could otherwise replace ``calls/``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from vapi_mcp.errors import DataDirUnsafe
from vapi_mcp.ids import validate_id

__all__ = [
    "EVENTS_FILENAME",
    "RECORDING_FILENAME",
    "CallStorage",
    "default_data_dir",
    "make_private_dirs",
    "open_private",
    "replace_private",
    "validate_call_id",
]

log = logging.getLogger(__name__)

EVENTS_FILENAME = "events.jsonl"
RECORDING_FILENAME = "recording.wav"

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_NOT_FOLLOWED = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK, errno.ENXIO)  # how O_NOFOLLOW/O_DIRECTORY refuse
_LOOSE_ROOT = stat.S_IWGRP | stat.S_IWOTH  # a data dir others may write to lets them replace calls/


def validate_call_id(call_id: str) -> str:
    """Return ``call_id`` if it passes the one id rule (:func:`vapi_mcp.ids.validate_id`), else raise
    :class:`~vapi_mcp.errors.InvalidInput`. Kept here for the callers that import it from storage."""
    return validate_id(call_id)


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


# ---------------------------------------------------------------------------------------------- checks


def _unsafe_entry(shown: Path, kind: str) -> DataDirUnsafe:
    """Say why ``shown`` could not be opened without following it (the ``lstat`` only words the message)."""
    try:
        st = os.lstat(shown)
    except OSError:
        return DataDirUnsafe(f"{shown} could not be opened safely as a {kind}")
    if stat.S_ISLNK(st.st_mode):
        return DataDirUnsafe(f"{shown} is a symbolic link; refusing to follow it out of the data dir")
    return DataDirUnsafe(f"{shown} is not a {kind} (mode {stat.filemode(st.st_mode)})")


def _open_owned(
    target: str | Path, flags: int, shown: Path, kind: str, then: Callable[[int, os.stat_result], None], **kw: Any
) -> int:
    """``os.open`` then ``fstat``: refuse what could not be opened unfollowed, or another user's entry (never
    repaired), then run ``then(fd, stat)`` for the kind-specific checks. Returns a descriptor the caller closes.
    """
    try:
        fd = os.open(target, flags, _FILE_MODE, **kw)
    except OSError as exc:
        if exc.errno in _NOT_FOLLOWED:
            raise _unsafe_entry(shown, kind) from None
        raise
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise DataDirUnsafe(f"{shown} belongs to another user (uid {st.st_uid}); refusing to use it")
        then(fd, st)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_dir(target: str | Path, shown: Path, *, dir_fd: int | None = None, root: bool = False) -> int:
    """Open a folder of the data dir and check it; returns a descriptor the caller closes.

    Below the data dir (``root=False``) a symlink is refused (``O_NOFOLLOW``) and any group or other bit is
    repaired to 0700. The data dir itself (``root=True``) is reached through the operator's symlinks and
    only repaired if others may write to it. Either way another user's folder is refused, never repaired.
    """

    def repair(fd: int, st: os.stat_result) -> None:
        mode = stat.S_IMODE(st.st_mode)
        if mode & (_LOOSE_ROOT if root else 0o077):
            os.fchmod(fd, _DIR_MODE)
            log.warning("data dir: %s had mode %o; set it to 700 (private to this user)", shown, mode)

    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if root else os.O_NOFOLLOW)
    return _open_owned(target, flags, shown, "folder", repair, dir_fd=dir_fd)


# ---------------------------------------------------------------------------------------------- files


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
    return table[kind] | os.O_CLOEXEC


def _open_file_at(dir_fd: int, name: str, flags: int, shown: Path) -> int:
    """Open ``name`` in ``dir_fd``: never through a symlink, never a FIFO or device, never someone else's."""

    def check(fd: int, st: os.stat_result) -> None:
        if not stat.S_ISREG(st.st_mode):
            raise DataDirUnsafe(f"{shown} is not a regular file (mode {stat.filemode(st.st_mode)})")
        if st.st_nlink != 1:
            raise DataDirUnsafe(f"{shown} has {st.st_nlink} hard links; refusing a file that may live elsewhere")
        os.set_blocking(fd, True)
        if flags & (os.O_WRONLY | os.O_RDWR):
            if stat.S_IMODE(st.st_mode) != _FILE_MODE:
                os.fchmod(fd, _FILE_MODE)
            if flags & os.O_TRUNC:
                os.ftruncate(fd, 0)

    # O_NONBLOCK: opening a FIFO planted under our name must fail or return at once, not hang the server.
    # O_TRUNC is held back until the checks pass, so a refused file is left exactly as it was.
    opening = (flags & ~os.O_TRUNC) | os.O_NOFOLLOW | os.O_NONBLOCK
    return _open_owned(name, opening, shown, "regular file", check, dir_fd=dir_fd)


def open_private(path: Path, mode: str = "ab", **kwargs: Any) -> IO[Any]:
    """``open()`` for our data files: private from the first byte, and never through a symlink.

    The file's folder is opened with ``O_NOFOLLOW`` (a symlinked ``calls/<id>`` is refused) and must be ours
    (a folder of ours that is too open is set to 0700, with a warning); the file itself is opened inside
    that folder with ``O_NOFOLLOW`` and must be a regular file of ours with one link. A file this creates
    is 0600 at creation (no window where it is world-readable); a writable open also sets an existing file
    to exactly 0600. ``kwargs`` go to :func:`os.fdopen` (``buffering``, ``encoding``…). Refusals raise
    :class:`~vapi_mcp.errors.DataDirUnsafe`; a refused file is not truncated, written or ``chmod``-ed.
    """
    path = Path(path)
    flags = _flags_for(mode)
    dir_fd = _open_dir(path.parent, path.parent)
    try:
        fd = _open_file_at(dir_fd, path.name, flags, path)
    finally:
        os.close(dir_fd)
    try:
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def replace_private(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Replace the file at ``path`` whole: ``write`` fills a temp file beside it, which is renamed over it.

    The temp file is private from its first byte (:func:`open_private`) and flushed to disk before the rename,
    and the folder after it, so a crash or a power cut at any point leaves the old file or the new one, never
    a mix. If ``write`` or the rename fails, the temp file is removed, the old file stays and the error rises.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open_private(temp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(path.parent)  # the rename itself survives a power cut


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries to disk, where the platform allows it (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _private_subdir(parent_fd: int, name: str, shown: Path, *, create: bool) -> int:
    """Create ``name`` (0700) under ``parent_fd`` if asked and missing, then open and check it like any folder."""
    if create:
        try:
            os.mkdir(name, _DIR_MODE, dir_fd=parent_fd)
        except FileExistsError:
            pass  # already there, or a concurrent creator won: checked like any existing entry
    return _open_dir(name, shown, dir_fd=parent_fd)


class CallStorage:
    """Maps call ids to their private folder under ``root``; creates folders on first use."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).expanduser()

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"CallStorage(root={str(self._root)!r})"

    def call_dir(self, call_id: str, *, create: bool = True) -> Path:
        """``root/calls/<call_id>/``, created (0700, root included) if missing, and checked if present.

        The walk below the data dir goes from descriptor to descriptor with ``O_NOFOLLOW``, so the path
        returned is the one that was checked. Raises ``InvalidInput`` for a bad id (before touching the disk)
        and :class:`~vapi_mcp.errors.DataDirUnsafe` for a symlinked or foreign ``calls/`` or call folder.
        With ``create=False`` (for readers) nothing is created: a missing folder is ``FileNotFoundError``.
        """
        validate_call_id(call_id)
        root = Path(os.path.realpath(make_private_dirs(self._root) if create else self._root))
        root_fd = _open_dir(root, root, root=True)
        try:
            calls_fd = _private_subdir(root_fd, "calls", root / "calls", create=create)
            try:
                os.close(_private_subdir(calls_fd, call_id, root / "calls" / call_id, create=create))
            finally:
                os.close(calls_fd)
        finally:
            os.close(root_fd)
        return root / "calls" / call_id

    def events_path(self, call_id: str) -> Path:
        return self.call_dir(call_id) / EVENTS_FILENAME

    def recording_path(self, call_id: str) -> Path:
        return self.call_dir(call_id) / RECORDING_FILENAME
