"""A call's event journal as a JSONL file: the local :class:`~vapi_mcp.store.base.Journal`.

One ``{"seq","at","type","data"}`` object per line, appended with one unbuffered ``write`` each, so a killed
process loses at most the line being written; no ``fsync`` (too slow per speech event; the OS page cache
survives a crash of the process). Lines are found again by *binary search over byte offsets* (seq increases
along the file), so no index is kept and memory stays constant however long the call.

Reopening (a process restart) reads the file's two ends for its first and last seq and cuts a torn last line,
so the next append starts on a line of its own. Lines that do not parse are skipped wherever they are, never
fatal. A line with a seq but no event (the one :mod:`~vapi_mcp.store.trim` leaves when retention dropped every
event) counts for the first and last seq, so the seq goes on after it; readers skip it. A failed write (disk
full) stops journaling rather than breaking the caller, which is on the audio hot path: the events then live
in memory only, and ``last_seq`` says which ones the file holds.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from vapi_mcp.store.base import JournalScan
from vapi_mcp.store.files import open_private

__all__ = ["JsonlJournal", "parse_record"]

logger = logging.getLogger(__name__)

_SEARCH_LINEAR_BYTES = 4096  # below this span the binary search stops and the scan reads lines in order
_REVERSE_CHUNK = 64 * 1024  # bytes read at a time when looking for the last line


class JsonlJournal:
    """The JSONL journal of one call, opened for appending (created 0600 if missing) and reading back.

    ``call_id`` only names the call in log messages. See the module docstring for the file format.
    """

    def __init__(self, path: Path, *, call_id: str | None = None) -> None:
        self._path = Path(path)
        self._name = call_id if call_id is not None else str(self._path)
        self._file: IO[bytes] | None = None
        self._first = 1  # seqs [first, last] are on disk
        self._last = 0
        self.torn_bytes = 0
        """Bytes of a torn last line cut when the journal was opened (a write killed half way), 0 if none."""
        self._open()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def first_seq(self) -> int:
        return self._first

    @property
    def last_seq(self) -> int:
        return self._last

    @property
    def closed(self) -> bool:
        """True once closed or failed: appends are ignored (reading still works)."""
        return self._file is None

    def __repr__(self) -> str:
        return f"JsonlJournal({str(self._path)!r}, seqs={self._first}..{self._last})"

    # ------------------------------------------------------------------ lifecycle

    def _open(self) -> None:
        # "a+b" keeps the old lines, lets us read them and cut a torn tail, and makes every write land at the
        # end; unbuffered, so each line is exactly one write() to the OS.
        file: IO[bytes] = open_private(self._path, "a+b", buffering=0)
        try:
            with open(self._path, "rb") as reader:  # buffered: a raw file's readline() reads byte by byte
                first, last, good_end = _recover(reader)
            size = file.seek(0, os.SEEK_END)
            if good_end < size:
                logger.warning(
                    "event journal of call %s: dropping a torn last line (%d bytes)", self._name, size - good_end
                )
                file.truncate(good_end)
                self.torn_bytes = size - good_end
        except BaseException:
            file.close()
            raise
        self._file = file
        self._first = first if first is not None else last + 1
        self._last = last

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> JsonlJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def append(self, seq: int, at: str, type_json: str, data_json: str) -> None:
        file = self._file
        if file is None:
            return
        payload = f'{{"seq":{seq},"at":"{at}","type":{type_json},"data":{data_json}}}\n'.encode()
        try:
            written = file.write(payload)
            # A raw file writes short only rarely (and returns None only if non-blocking, which ours is not).
            while written is not None and written < len(payload):  # pyright: ignore[reportUnnecessaryComparison]
                payload = payload[written:]
                written = file.write(payload)
        except OSError as exc:
            # Never break the caller over the disk: stop journaling. Events after ``last_seq`` are then not
            # held here, and the event log reports them as dropped once they leave its memory.
            logger.error(
                "event journal of call %s failed (%s); events are no longer journaled",
                self._name,
                exc.strerror or type(exc).__name__,
            )
            self.close()
            return
        self._last = seq

    # ------------------------------------------------------------------ reading

    def scan(self, after: int, until: int, *, types: frozenset[str] | None, limit: int, budget: int) -> JournalScan:
        records: list[dict[str, Any]] = []
        cursor = after
        with open(self._path, "rb") as f:
            f.seek(_find_offset(f, after + 1))
            for line in f:
                obj = _parse_line(line)
                if obj is None or obj["seq"] <= cursor:
                    continue
                if obj["seq"] > until:
                    break
                cursor = obj["seq"]
                if types is None or _type_in(obj, types):
                    records.append(obj)
                    if len(records) >= limit:
                        return JournalScan(records, cursor, False)
                budget -= 1
                if budget == 0:
                    return JournalScan(records, cursor, False)
        # Seqs up to ``until`` that are not on disk (a corrupt line) are skipped, not waited for.
        return JournalScan(records, max(cursor, until), True)


def _type_in(obj: dict[str, Any], types: frozenset[str]) -> bool:
    kind = obj.get("type")
    return isinstance(kind, str) and kind in types  # a hand-edited ``"type": [...]`` is unhashable


def _parse_line(line: bytes) -> dict[str, Any] | None:
    """A journal line as a dict, or None if torn or corrupt (such lines are skipped, never fatal)."""
    return parse_record(line) if line.endswith(b"\n") else None


def parse_record(raw: bytes | str) -> dict[str, Any] | None:
    """An event record (``{"seq": int, …}``) from its JSON text, or None if it is not one."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    record = cast("dict[str, Any]", obj)  # JSON object keys are str
    return record if isinstance(record.get("seq"), int) else None


def _recover(journal: IO[bytes]) -> tuple[int | None, int, int]:
    """Scan an existing journal's two ends: (first seq, last seq, end of the last complete line)."""
    size = journal.seek(0, os.SEEK_END)
    if size == 0:
        return None, 0, 0
    good_end: int | None = None
    last = 0
    for offset, line in _reverse_lines(journal, size):
        if good_end is None:
            # Everything after the last newline is a torn write; the file is cut there.
            good_end = offset + len(line) if line.endswith(b"\n") else offset
        obj = _parse_line(line)
        if obj is not None:
            last = obj["seq"]
            break
    journal.seek(0)
    first = None
    for line in journal:
        obj = _parse_line(line)
        if obj is not None:
            first = obj["seq"]
            break
    return first, last, good_end or 0


def _reverse_lines(f: IO[bytes], size: int, chunk: int = _REVERSE_CHUNK) -> Iterator[tuple[int, bytes]]:
    """Yield (offset, line) from the end of the file backwards, reading ``chunk`` bytes at a time."""
    end = size
    tail = b""
    while end > 0:
        start = max(0, end - chunk)
        f.seek(start)
        block = f.read(end - start) + tail
        end = start
        # Lines that start inside this block, except the first partial one (unless we are at the top).
        parts = block.split(b"\n")
        pos = start + len(block)
        for i in range(len(parts) - 1, 0, -1):
            piece = parts[i] + (b"\n" if i < len(parts) - 1 else b"")
            pos -= len(piece)
            if piece:
                yield pos, piece
        tail = parts[0] + (b"\n" if len(parts) > 1 else b"")
    if tail:
        yield 0, tail


def _find_offset(f: IO[bytes], target: int) -> int:
    """Byte offset of a line at or before the first line with ``seq >= target`` (binary search).

    Invariant: every parseable line before ``lo`` has a seq < target, and the line at ``hi`` (when
    ``hi < size``) has a seq >= target. Corrupt lines in between are skipped by the linear scan that follows.
    """
    lo, hi = 0, f.seek(0, os.SEEK_END)
    while hi - lo > _SEARCH_LINEAR_BYTES:
        mid = (lo + hi) // 2
        f.seek(mid - 1)
        f.readline()  # to the start of the next line (``mid`` itself if ``mid - 1`` is a newline)
        start = f.tell()
        seq = None
        while seq is None and f.tell() < hi:
            obj = _parse_line(f.readline())
            seq = obj["seq"] if obj is not None else None
        if seq is None:
            hi = mid  # nothing parseable starts in [mid, hi): search below mid (lo alone ensures correctness)
            continue
        if seq < target:
            lo = f.tell()
        else:
            hi = start
    return lo
