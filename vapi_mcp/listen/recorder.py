"""WAV recording of a call's listen audio, valid on disk at every flush.

A WAV header carries two sizes (RIFF chunk and data chunk) that a naive writer fills in at close. A
supervisor process can be killed mid-call, so :class:`WavRecorder` instead buffers about a second of audio,
writes it, then rewrites both sizes in place: the file is always a valid WAV, at most ~1 s short of what was
received. The data is written before the sizes, so a crash between the two leaves sizes that undercount,
never overcount (readers ignore trailing bytes).

:func:`tail_wav` serves the latest minutes of a recording (possibly still being written) as a standalone
WAV without reading the whole file.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np

from vapi_mcp.store.files import open_private

__all__ = ["MAX_WAV_DATA_BYTES", "RecordingLayout", "WavRecorder", "recording_layout", "repair_wav", "tail_wav"]

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")  # RIFF, WAVE, 16-byte PCM fmt chunk, data chunk header
_HEADER_SIZE = _HEADER.size  # 44
_RIFF_SIZE_AT = 4
_DATA_SIZE_AT = 40
_SAMPLE_WIDTH = 2  # 16-bit PCM
_U32 = struct.Struct("<I")

MAX_WAV_DATA_BYTES = 0xFFFFFFFF - (_HEADER_SIZE - 8)
"""The RIFF size field is 32-bit: data beyond this cannot be described by a WAV header."""

_FLUSH_SECONDS = 1.0
_SILENCE_CHUNK_SECONDS = 1.0


def _pwrite_all(f: IO[bytes], data: bytes | memoryview, offset: int) -> None:
    """Write ``data`` at ``offset`` with positional writes (one syscall each, no seek), retrying short writes."""
    view = memoryview(data)
    pwrite = getattr(os, "pwrite", None)
    while view:
        if pwrite is not None:
            n = pwrite(f.fileno(), view, offset)
        else:  # Windows has no pwrite
            f.seek(offset)
            n = f.write(view) or 0
        if n <= 0:
            raise OSError(f"a write of {len(view)} bytes wrote nothing")
        view = view[n:]
        offset += n


def _wav_header(sample_rate: int, channels: int, data_bytes: int) -> bytes:
    block_align = channels * _SAMPLE_WIDTH
    fmt = (1, channels, sample_rate, sample_rate * block_align, block_align, 8 * _SAMPLE_WIDTH)  # 1 = PCM
    return _HEADER.pack(b"RIFF", _HEADER_SIZE - 8 + data_bytes, b"WAVE", b"fmt ", 16, *fmt, b"data", data_bytes)


class WavRecorder:
    """Append-only 16-bit PCM WAV writer (interleaved frames) that keeps the file valid as it grows.

    ``write()`` accepts arbitrary byte chunks: message boundaries on the listen socket are not frame
    boundaries, so a trailing partial frame is held until the next write completes it.
    """

    def __init__(
        self,
        path: Path,
        *,
        sample_rate: int = 16000,
        channels: int = 2,
        max_data_bytes: int = MAX_WAV_DATA_BYTES,
        resume: bool = False,
    ) -> None:
        """Create (or truncate) ``path``; with ``resume=True`` continue an existing recording instead.

        Resuming (after a process restart) keeps the whole frames already on disk, even those a crash left
        beyond a stale header, and refuses a file of another format rather than overwrite it.
        """
        if sample_rate <= 0 or channels <= 0:
            raise ValueError("sample_rate and channels must be positive")
        self._path = Path(path)
        self._rate = sample_rate
        self._channels = channels
        self._frame = channels * _SAMPLE_WIDTH
        self._max_data = min(max_data_bytes, MAX_WAV_DATA_BYTES) // self._frame * self._frame
        self._flush_at = max(self._frame, int(sample_rate * _FLUSH_SECONDS) * self._frame)
        self._buffer = bytearray()
        self._partial = b""
        self._written = 0  # data bytes on disk and described by the header
        self._full = False
        try:
            size: int | None = self._path.stat().st_size
        except FileNotFoundError:
            size = None
        resuming = resume and bool(size)
        self._file: IO[bytes] | None = self._open(size, resuming)
        try:
            if resuming:
                self._resume(self._file)
            else:
                self._file.write(_wav_header(sample_rate, channels, 0))
        except BaseException:
            self._file.close()
            raise

    def _open(self, size: int | None, resuming: bool) -> IO[bytes]:
        """The file, opened for positional writes; truncated only when it holds audio not to be kept.

        A new or empty file is not truncated: on ext4, truncating to 0 marks the file for "allocate on close",
        and closing it then allocates and starts writing back the whole recording in the caller's thread (a
        millisecond or more for a minute of audio, on the event loop).
        """
        if resuming or size == 0:
            return open_private(self._path, "r+b", buffering=0)
        if size is None:
            try:
                return open_private(self._path, "x+b", buffering=0)
            except FileExistsError:  # created since we looked: what it holds is not ours to keep
                pass
        return open_private(self._path, "w+b", buffering=0)

    def _resume(self, f: IO[bytes]) -> None:
        size = os.fstat(f.fileno()).st_size
        try:
            fmt_chunk, _, data_start, data_len = _read_layout(f, size, ours=True)
        except ValueError as exc:
            raise ValueError(f"cannot resume {self._path.name}: {exc}") from None
        expected = _wav_header(self._rate, self._channels, 0)[12:36]  # our fmt chunk
        if data_start != _HEADER_SIZE or fmt_chunk != expected:
            raise ValueError(f"cannot resume {self._path.name}: it has another format or layout")
        data_len = min(data_len, self._max_data)
        f.truncate(_HEADER_SIZE + data_len)  # a torn half frame would shift every later frame
        self._written = data_len
        self._full = data_len >= self._max_data
        self._write_sizes(f)

    def _write_sizes(self, f: IO[bytes]) -> None:
        # Both sizes in one write: the 40 header bytes from the RIFF size on (the fmt chunk between them is ours).
        _pwrite_all(f, _wav_header(self._rate, self._channels, self._written)[_RIFF_SIZE_AT:], _RIFF_SIZE_AT)

    # ------------------------------------------------------------------ properties

    @property
    def path(self) -> Path:
        return self._path

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def channels(self) -> int:
        return self._channels

    @property
    def frames(self) -> int:
        """Whole frames accepted so far (flushed or still buffered)."""
        return (self._written + len(self._buffer)) // self._frame

    @property
    def duration_s(self) -> float:
        return self.frames / self._rate

    @property
    def closed(self) -> bool:
        return self._file is None

    def __repr__(self) -> str:
        return f"WavRecorder(path={str(self._path)!r}, duration_s={self.duration_s:.2f})"

    # ------------------------------------------------------------------ writing

    def write(self, pcm: bytes | bytearray | memoryview | np.ndarray) -> None:
        """Append s16le interleaved audio (bytes) or an int16 array (1-D interleaved or ``(frames, channels)``)."""
        if self._file is None:
            raise ValueError("write to a closed WavRecorder")
        view = memoryview(self._array_bytes(pcm) if isinstance(pcm, np.ndarray) else pcm).cast("B")
        if self._partial:
            view = memoryview(self._partial + view)
        whole = len(view) - len(view) % self._frame
        self._partial = bytes(view[whole:])
        self._append(view[:whole])  # copied into the buffer right away: the caller may reuse its buffer

    def _array_bytes(self, array: np.ndarray) -> bytes:
        if array.dtype.kind != "i" or array.dtype.itemsize != _SAMPLE_WIDTH:
            raise TypeError(f"expected int16 samples, got {array.dtype}")
        if array.ndim == 2 and array.shape[1] != self._channels:
            raise ValueError(f"expected {self._channels} channels, got an array of shape {array.shape}")
        if array.ndim > 2:
            raise ValueError(f"expected a 1-D or 2-D array, got shape {array.shape}")
        return array.astype("<i2", copy=False).tobytes()  # C order = interleaved; little-endian on disk

    def write_silence(self, seconds: float) -> None:
        """Append ``seconds`` of zeros, e.g. to keep the recording on call time across a reconnect gap.

        Written a second at a time, so an hour-long gap never needs an hour of zeros in memory.
        """
        if self._file is None:
            raise ValueError("write to a closed WavRecorder")
        if not seconds > 0:  # also rejects NaN
            return
        if self._partial:  # a half frame from before the gap would shift every later frame
            self._partial = b""
        remaining = round(seconds * self._rate)
        chunk = bytes(int(self._rate * _SILENCE_CHUNK_SECONDS) * self._frame)
        while remaining > 0 and not self._full:
            frames = min(remaining, len(chunk) // self._frame)
            self._append(memoryview(chunk)[: frames * self._frame])
            remaining -= frames

    def _append(self, data: memoryview) -> None:
        if not data or self._full:
            return
        room = self._max_data - self._written - len(self._buffer)
        if len(data) > room:
            data = data[:room]
            self._full = True
            logger.warning(
                "recording %s reached its size limit (%d bytes); later audio is not recorded",
                self._path.name,
                self._max_data,
            )
        if not self._buffer and len(data) >= self._flush_at:
            self._write_through(data)  # a whole block (the listen pipeline's case): no copy into the buffer
            return
        self._buffer += data
        if len(self._buffer) >= self._flush_at or self._full:
            self.flush()

    def _write_through(self, data: memoryview) -> None:
        f = self._file
        assert f is not None
        _pwrite_all(f, data, _HEADER_SIZE + self._written)
        self._written += len(data)
        self._write_sizes(f)

    def flush(self) -> None:
        """Write buffered audio, then make the header describe it. Goes to the OS, not to the platter."""
        if self._file is None or not self._buffer:
            return
        f = self._file
        with memoryview(self._buffer) as view:
            _pwrite_all(f, view, _HEADER_SIZE + self._written)
        self._written += len(self._buffer)
        self._buffer.clear()
        self._write_sizes(f)

    def close(self) -> None:
        """Flush and close; a trailing partial frame is dropped. Safe to call twice."""
        if self._file is None:
            return
        try:
            self.flush()
        finally:
            self._file.close()
            self._file = None

    def __enter__(self) -> WavRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ---------------------------------------------------------------------- reading


def _looks_like_chunk_id(raw: bytes) -> bool:
    # Chunk ids are four printable ASCII characters ("LIST", "id3 "); PCM is rarely that, silence never.
    return raw == b"" or (len(raw) == 4 and all(0x20 <= b < 0x7F for b in raw))


def _read_layout(f: IO[bytes], size: int, *, ours: bool = False) -> tuple[bytes, int, int, int]:
    """Walk the RIFF chunks: (raw fmt chunk, block align, data offset, data length actually present).

    ``ours``: the file is one of our recordings, which hold nothing after their data chunk, so when the data
    starts where a :class:`WavRecorder` puts it, it runs to the end of the file whatever the header says (a
    process killed between writing audio and updating the sizes). Otherwise the header is trusted unless
    nothing chunk-like follows the declared end.
    """
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    fmt_chunk: bytes | None = None
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        chunk_head = f.read(8)
        chunk_id, chunk_size = chunk_head[:4], _U32.unpack_from(chunk_head, 4)[0]
        if chunk_id == b"fmt ":
            fmt_chunk = chunk_head + f.read(chunk_size)
        elif chunk_id == b"data":
            if fmt_chunk is None or len(fmt_chunk) < 8 + 16:
                raise ValueError("WAV data chunk before a valid fmt chunk")
            block_align = struct.unpack_from("<H", fmt_chunk, 8 + 12)[0]
            if block_align == 0:
                raise ValueError("WAV fmt chunk with a zero block align")
            start = pos + 8
            present = size - start
            end = start + chunk_size
            # A recording still being written has up to ~1 s on disk beyond its header's data size (and a
            # header of 0 right after creation): when nothing chunk-like follows the declared end, the
            # data runs to the end of the file.
            if ours and start == _HEADER_SIZE:
                end = size
            elif chunk_size < present:
                f.seek(end + (chunk_size & 1))
                if not _looks_like_chunk_id(f.read(4)):
                    end = size
            length = min(end, size) - start
            return fmt_chunk, block_align, start, length - length % block_align
        pos += 8 + chunk_size + (chunk_size & 1)
    raise ValueError("WAV file without a data chunk")


class RecordingLayout(NamedTuple):
    """Where one of our recordings' audio is, as the file is on disk (its header's sizes not trusted)."""

    sample_rate: int
    channels: int
    data_start: int
    data_bytes: int  # whole frames only


def recording_layout(path: Path) -> RecordingLayout:
    """The layout of a recording a :class:`WavRecorder` wrote, even one whose header a crash left stale.

    Raises :class:`ValueError` for a file that is not a 16-bit PCM WAV, :class:`OSError` if it cannot be read.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        fmt_chunk, _, data_start, data_len = _read_layout(f, size, ours=True)
    audio_format, channels, sample_rate = struct.unpack_from("<HHI", fmt_chunk, 8)
    bits = struct.unpack_from("<H", fmt_chunk, 8 + 14)[0]
    if audio_format != 1 or bits != 8 * _SAMPLE_WIDTH or channels < 1 or sample_rate < 1:
        raise ValueError("not a 16-bit PCM recording")
    return RecordingLayout(sample_rate, channels, data_start, data_len)


def repair_wav(path: Path) -> RecordingLayout:
    """Make one of our recordings' header describe the whole frames on disk again, and return its layout.

    A process killed between writing audio and updating the sizes leaves a header that undercounts; this
    rewrites both sizes from the file's length (and cuts a torn half frame). Raises :class:`ValueError` for a
    file that is not one of our recordings, :class:`OSError` if it cannot be written.
    """
    layout = recording_layout(path)
    WavRecorder(path, sample_rate=layout.sample_rate, channels=layout.channels, resume=True).close()
    return layout


def tail_wav(path: Path, seconds: float) -> bytes:
    """A complete WAV (in memory) holding the last ``seconds`` of the recording at ``path``.

    Reads only the header and the tail, so the cost is bounded by ``seconds``, not by the call's length;
    works on a file that a :class:`WavRecorder` is still writing. The fmt chunk is copied verbatim.
    """
    if seconds != seconds or seconds < 0:  # NaN or negative
        raise ValueError("seconds must be a non-negative number")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        fmt_chunk, block_align, data_start, data_len = _read_layout(f, size)
        byte_rate = _U32.unpack_from(fmt_chunk, 8 + 8)[0]
        frames_per_s = byte_rate / block_align
        want = min(data_len, int(seconds * frames_per_s) * block_align) if seconds != float("inf") else data_len
        f.seek(data_start + data_len - want)
        data = f.read(want)
    data = data[: len(data) - len(data) % block_align]
    riff_size = 4 + len(fmt_chunk) + 8 + len(data)
    return b"".join((b"RIFF", _U32.pack(riff_size), b"WAVE", fmt_chunk, b"data", _U32.pack(len(data)), data))
