"""The embedded default store: every call's state in the private data dir, ``<root>/calls/<call_id>/``.

Per call: ``events.jsonl`` (the event journal, :class:`~vapi_mcp.store.journal.JsonlJournal`),
``recording.wav`` and ``call.json`` (a snapshot the supervisor writes, for instance the final summary when a
call ends). The folders under ``calls/`` are the index of calls: a restarted server lists them to know every
call it holds (DESIGN §13). Folders are 0700 and files 0600 (see :mod:`vapi_mcp.store.files`), since they hold
what customers said on the phone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from vapi_mcp.errors import DataDirUnsafe, InvalidInput
from vapi_mcp.store.files import (
    EVENTS_FILENAME,
    RECORDING_FILENAME,
    CallStorage,
    make_private_dirs,
    open_private,
    replace_private,
    validate_call_id,
)
from vapi_mcp.store.journal import JsonlJournal
from vapi_mcp.store.trim import drop_events_before

__all__ = ["INBOX_FILENAME", "SNAPSHOT_FILENAME", "LocalStore"]

logger = logging.getLogger(__name__)

SNAPSHOT_FILENAME = "call.json"
INBOX_FILENAME = "inbox.jsonl"
_CALL_FILES = (EVENTS_FILENAME, SNAPSHOT_FILENAME, RECORDING_FILENAME)  # a folder with none of them is no call


class LocalStore:
    """The :class:`~vapi_mcp.store.base.CallStore` on a local data dir. Creates folders on first use only:
    reading (``call_ids``, ``read_snapshot``) never creates anything."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).expanduser()
        self._calls = self._root / "calls"
        # The checked walk down to a call's folder (no symlink followed, nobody else's folder) is
        # CallStorage.call_dir's; files.py has no function for it yet.
        self._folders = CallStorage(self._root)

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"LocalStore(root={str(self._root)!r})"

    def _call_path(self, call_id: str) -> Path:
        """``root/calls/<call_id>``, not created; raises :class:`InvalidInput` for an unsafe id."""
        validate_call_id(call_id)
        folder = self._calls / call_id
        # Belt and braces: the pattern already forbids separators and dots, but the invariant that matters
        # is "never outside root", so check it on the normalised path too.
        if os.path.dirname(os.path.normpath(folder)) != os.path.normpath(self._calls):
            raise InvalidInput(f"invalid call id {call_id!r}: escapes the data directory")
        return folder

    def _call_dir(self, call_id: str) -> Path:
        """The call's folder, created (0700, root included) if missing, checked if present."""
        return self._folders.call_dir(call_id)

    # ------------------------------------------------------------------ files of a call

    def open_journal(self, call_id: str) -> JsonlJournal:
        return JsonlJournal(self._call_dir(call_id) / EVENTS_FILENAME, call_id=call_id)

    def recording_path(self, call_id: str) -> Path:
        return self._call_dir(call_id) / RECORDING_FILENAME

    def existing_journal(self, call_id: str) -> JsonlJournal | None:
        """The call's journal if it has one (opened as :meth:`open_journal` does, so a torn last line is cut),
        else None: unlike :meth:`open_journal`, creates nothing."""
        if not (self._call_path(call_id) / EVENTS_FILENAME).is_file():
            return None
        return self.open_journal(call_id)

    def open_inbox_journal(self) -> JsonlJournal:
        """The fleet inbox's journal, ``<root>/inbox.jsonl``: beside ``calls/``, so never taken for a call."""
        return JsonlJournal(make_private_dirs(self._root) / INBOX_FILENAME, call_id="inbox")

    def prune_inbox(self, cutoff: datetime) -> int:
        """Drop the inbox's events older than ``cutoff`` (retention), before its journal is opened: how many.

        The seqs go on where they were (:mod:`vapi_mcp.store.trim`); creates nothing when there is no inbox.
        """
        if not self._root.is_dir():
            return 0
        return drop_events_before(make_private_dirs(self._root) / INBOX_FILENAME, cutoff)

    # ------------------------------------------------------------------ the index

    def call_ids(self) -> list[str]:
        """The calls under ``calls/``, sorted: folders (not symlinks) named like a call id and holding at
        least one of a call's files. Anything else there (stray files, temp folders, a folder emptied by
        hand) is ignored, so one odd entry never hides the other calls."""
        try:
            with os.scandir(self._calls) as scan:
                entries = list(scan)
        except (FileNotFoundError, NotADirectoryError):
            return []
        found: list[str] = []
        for entry in entries:
            try:
                validate_call_id(entry.name)
            except InvalidInput:
                continue
            if entry.is_dir(follow_symlinks=False) and _holds_a_call(entry.path):
                found.append(entry.name)
        return sorted(found)

    def holds(self, call_id: str) -> bool:
        """Whether the store holds ``call_id`` (as :meth:`call_ids` would list it); False for an unsafe id."""
        try:
            folder = self._call_path(call_id)
        except InvalidInput:
            return False
        return folder.is_dir() and not folder.is_symlink() and _holds_a_call(str(folder))

    def last_written(self, call_id: str) -> float | None:
        """When the call's files last changed (the newest mtime, epoch seconds), or None if none is there."""
        folder = self._call_path(call_id)
        times: list[float] = []
        for name in _CALL_FILES:
            with contextlib.suppress(OSError):
                times.append(os.lstat(folder / name).st_mtime)
        return max(times, default=None)

    def remove_call(self, call_id: str) -> None:
        """Delete the call's folder and everything in it (retention); nothing if it is not there.

        The folder itself must be ours and not a symlink; links inside it are removed, never followed.
        """
        folder = self._call_path(call_id)
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            raise DataDirUnsafe(f"refusing to remove {folder.name!r}: not a folder of this user")
        shutil.rmtree(folder)

    # ------------------------------------------------------------------ snapshots

    def write_snapshot(self, call_id: str, data: Mapping[str, Any]) -> None:
        """Write ``<call dir>/call.json`` atomically: a temp file (0600 from its first byte), fsync, rename.

        A crash at any point leaves the old snapshot or the new one, never a mix. ``data`` must be JSON as
        is (finite floats, str keys): a TypeError or ValueError says what is not, before anything is written.
        """
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        replace_private(self._call_dir(call_id) / SNAPSHOT_FILENAME, lambda f: f.write(text.encode("utf-8")))

    def read_snapshot(self, call_id: str) -> dict[str, Any] | None:
        """The call's snapshot, or None when absent, unreadable or not a JSON object (logged, never raised)."""
        path = self._call_path(call_id) / SNAPSHOT_FILENAME
        try:
            with open_private(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        except (OSError, DataDirUnsafe) as exc:  # unreadable, a folder, a symlink, someone else's…
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            logger.warning("cannot read the snapshot of call %s: %s", call_id, reason)
            return None
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: [[[[…]]]]
            logger.warning("the snapshot of call %s is corrupt (%d bytes); ignoring it", call_id, len(raw))
            return None
        if not isinstance(data, dict):
            logger.warning("the snapshot of call %s is not a JSON object; ignoring it", call_id)
            return None
        return cast("dict[str, Any]", data)


def _holds_a_call(folder: str) -> bool:
    """Whether a folder holds one of a call's files, as a regular file of this user (symlinks do not count)."""
    for name in _CALL_FILES:
        try:
            st = os.lstat(os.path.join(folder, name))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
            return True
    return False
