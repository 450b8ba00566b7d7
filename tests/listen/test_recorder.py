from __future__ import annotations

import io
import logging
import os
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from vapi_mcp.listen.recorder import WavRecorder, tail_wav

RATE = 16000
FRAME_BYTES = 4  # 16-bit stereo


def ramp(frames: int, start: int = 0) -> np.ndarray:
    """Stereo int16 audio whose every frame is distinct: channel 0 counts up, channel 1 counts down."""
    n = np.arange(start, start + frames, dtype=np.int64)
    return np.stack([(n % 65536) - 32768, 32767 - (n % 65536)], axis=1).astype(np.int16)


def read_wav(path_or_bytes: Path | bytes) -> tuple[wave._wave_params, bytes]:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb")
    with source, wave.open(source, "rb") as w:
        return w.getparams(), w.readframes(w.getnframes())


def test_a_new_recording_is_a_valid_empty_private_wav(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        rec = WavRecorder(tmp_path / "r.wav")
    finally:
        os.umask(old)
    params, data = read_wav(tmp_path / "r.wav")
    assert (params.nchannels, params.sampwidth, params.framerate, params.nframes) == (2, 2, 16000, 0)
    assert data == b""
    assert stat.S_IMODE((tmp_path / "r.wav").stat().st_mode) == 0o600
    assert rec.path == tmp_path / "r.wav" and rec.duration_s == 0.0
    rec.close()


def test_round_trip_arrays_bytes_and_memoryviews(tmp_path: Path) -> None:
    audio = ramp(RATE * 2)
    with WavRecorder(tmp_path / "r.wav") as rec:
        rec.write(audio[:1000])  # (frames, channels)
        rec.write(audio[1000:2000].reshape(-1))  # 1-D interleaved
        rec.write(audio[2000:3000].tobytes())
        rec.write(memoryview(audio[3000:4000].tobytes()))
        rec.write(memoryview(audio[4000:5000]))  # a typed memoryview is cast to bytes
        rec.write(audio[5000:].astype(">i2"))  # big-endian input is stored little-endian
        assert rec.frames == RATE * 2 and rec.duration_s == 2.0
    params, data = read_wav(tmp_path / "r.wav")
    assert params.nframes == RATE * 2
    assert data == audio.tobytes()
    assert rec.closed


def test_message_boundaries_need_not_be_frame_boundaries(tmp_path: Path) -> None:
    raw = ramp(5000).tobytes()
    with WavRecorder(tmp_path / "r.wav") as rec:
        for i in range(0, len(raw), 7):
            rec.write(raw[i : i + 7])
        rec.write(b"\x01\x02\x03")  # a partial frame at the end is dropped
        assert rec.frames == 5000
    assert read_wav(tmp_path / "r.wav")[1] == raw


def test_header_is_valid_mid_recording_without_close(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    audio = ramp(RATE * 2)
    rec = WavRecorder(path)
    rec.write(audio[: RATE // 2])
    assert read_wav(path)[0].nframes == 0  # still buffered
    rec.flush()
    params, data = read_wav(path)
    assert params.nframes == RATE // 2 and data == audio[: RATE // 2].tobytes()
    # Automatic flush once a second of audio is buffered (20 ms messages, like the listen socket).
    for start in range(RATE // 2, RATE * 2, 320):
        rec.write(audio[start : start + 320])
    params, data = read_wav(path)
    assert params.nframes == RATE // 2 + RATE  # 1.5 s on disk, the last 0.5 s buffered
    assert data == audio[: params.nframes].tobytes()
    assert rec.frames == RATE * 2
    riff_size, data_size = struct.unpack("<I32xI", path.read_bytes()[4:44])
    assert data_size == params.nframes * FRAME_BYTES and riff_size == data_size + 36
    rec.close()
    assert read_wav(path)[0].nframes == RATE * 2


CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from vapi_mcp.listen.recorder import WavRecorder
    n = np.arange(int(2.5 * 16000), dtype=np.int64)
    audio = np.stack([(n % 65536) - 32768, 32767 - (n % 65536)], axis=1).astype(np.int16)
    rec = WavRecorder(sys.argv[1])
    for start in range(0, len(audio), 320):
        rec.write(audio[start : start + 320])
    print("written", flush=True)
    time.sleep(60)
    """
)


def test_a_killed_process_leaves_a_valid_wav_at_most_a_second_short(tmp_path: Path) -> None:
    path = tmp_path / "killed.wav"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"written\n"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    params, data = read_wav(path)
    assert params.nframes == 2 * RATE  # flushed at 1 s and 2 s; the last 0.5 s was in memory
    assert data == ramp(int(2.5 * RATE))[: 2 * RATE].tobytes()


def test_write_silence_keeps_time_aligned_and_drops_a_dangling_half_frame(tmp_path: Path) -> None:
    audio = ramp(800)
    with WavRecorder(tmp_path / "r.wav") as rec:
        rec.write(audio.tobytes() + b"\x05\x06")  # half a frame, then the socket dropped
        rec.write_silence(3.3)
        rec.write(audio)
        rec.write_silence(0)
        rec.write_silence(-1)
        rec.write_silence(float("nan"))
        assert rec.frames == 800 + int(3.3 * RATE) + 800
    params, data = read_wav(tmp_path / "r.wav")
    assert params.nframes == 800 + int(3.3 * RATE) + 800
    assert data == audio.tobytes() + bytes(int(3.3 * RATE) * FRAME_BYTES) + audio.tobytes()


def test_size_guard_stops_writing_logs_once_and_keeps_the_file_valid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "r.wav"
    with (
        caplog.at_level(logging.WARNING, logger="vapi_mcp.listen.recorder"),
        WavRecorder(path, max_data_bytes=4002) as rec,
    ):
        rec.write(ramp(600))
        rec.write(ramp(600, start=600))
        rec.write_silence(5)
        rec.write(ramp(10))
        assert rec.frames == 1000  # 4002 bytes rounded down to whole frames
        assert read_wav(path)[0].nframes == 1000  # flushed on reaching the limit
    assert sum("size limit" in r.getMessage() for r in caplog.records) == 1
    params, data = read_wav(path)
    assert params.nframes == 1000 and data == ramp(1000).tobytes()


def test_mono_8k_and_bad_input(tmp_path: Path) -> None:
    with WavRecorder(tmp_path / "m.wav", sample_rate=8000, channels=1) as rec:
        rec.write(np.arange(8000, dtype=np.int16))
        with pytest.raises(TypeError, match="int16"):
            rec.write(np.zeros(10, dtype=np.float32))
        with pytest.raises(ValueError, match="channels"):
            rec.write(np.zeros((10, 2), dtype=np.int16))
        assert rec.duration_s == 1.0
    params, data = read_wav(tmp_path / "m.wav")
    assert (params.nchannels, params.framerate, params.nframes) == (1, 8000, 8000)
    assert np.array_equal(np.frombuffer(data, "<i2"), np.arange(8000))
    with pytest.raises(ValueError):
        WavRecorder(tmp_path / "x.wav", sample_rate=0)


def test_close_is_idempotent_and_final(tmp_path: Path) -> None:
    rec = WavRecorder(tmp_path / "r.wav")
    rec.write(ramp(10))
    rec.close()
    rec.close()
    with pytest.raises(ValueError, match="closed"):
        rec.write(ramp(10))
    with pytest.raises(ValueError, match="closed"):
        rec.write_silence(1)
    rec.flush()  # harmless
    assert read_wav(tmp_path / "r.wav")[0].nframes == 10


def test_resume_continues_a_recording_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    audio = ramp(3 * RATE)
    with WavRecorder(path) as rec:
        rec.write(audio[:RATE])
    with path.open("ab") as f:  # written before a crash, header not yet updated, torn last frame
        f.write(audio[RATE : 2 * RATE].tobytes() + b"\x01")
    with WavRecorder(path, resume=True) as rec:
        assert rec.frames == 2 * RATE
        rec.write(audio[2 * RATE :])
    params, data = read_wav(path)
    assert params.nframes == 3 * RATE and data == audio.tobytes()
    with pytest.raises(ValueError, match="another format"):
        WavRecorder(path, sample_rate=8000, resume=True)
    assert read_wav(path)[0].nframes == 3 * RATE  # refused, not overwritten
    path.write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match="cannot resume"):
        WavRecorder(path, resume=True)
    with WavRecorder(tmp_path / "new.wav", resume=True) as rec:  # nothing to resume: a fresh file
        rec.write(audio[:10])
    assert read_wav(tmp_path / "new.wav")[0].nframes == 10
    with WavRecorder(path) as rec:  # without resume, an existing file is replaced
        pass
    assert read_wav(path)[0].nframes == 0


@pytest.fixture
def ten_seconds(tmp_path: Path) -> tuple[Path, np.ndarray]:
    audio = ramp(10 * RATE)
    with WavRecorder(tmp_path / "ten.wav") as rec:
        rec.write(audio)
    return tmp_path / "ten.wav", audio


def test_tail_wav_returns_the_last_seconds(ten_seconds: tuple[Path, np.ndarray]) -> None:
    path, audio = ten_seconds
    params, data = read_wav(tail_wav(path, 3))
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, RATE)
    assert params.nframes == 3 * RATE and data == audio[-3 * RATE :].tobytes()
    params, data = read_wav(tail_wav(path, 30))
    assert params.nframes == 10 * RATE and data == audio.tobytes()
    params, data = read_wav(tail_wav(path, 0.00011))  # 1.76 frames → 1 whole frame
    assert params.nframes == 1 and data == audio[-1:].tobytes()
    assert read_wav(tail_wav(path, 0))[0].nframes == 0
    assert read_wav(tail_wav(path, float("inf")))[0].nframes == 10 * RATE
    with pytest.raises(ValueError):
        tail_wav(path, float("nan"))


def test_tail_wav_on_a_recording_still_being_written(tmp_path: Path) -> None:
    path = tmp_path / "live.wav"
    rec = WavRecorder(path)
    assert read_wav(tail_wav(path, 5))[0].nframes == 0
    audio = ramp(4 * RATE)
    rec.write(audio[: 2 * RATE])
    rec.flush()
    params, data = read_wav(tail_wav(path, 1))
    assert params.nframes == RATE and data == audio[RATE : 2 * RATE].tobytes()
    rec.close()


def test_tail_wav_reads_past_a_stale_header(tmp_path: Path) -> None:
    """A crash between the data write and the header update: the data on disk is the truth."""
    path = tmp_path / "stale.wav"
    audio = ramp(3 * RATE)
    with WavRecorder(path) as rec:
        rec.write(audio[: 2 * RATE])
    with path.open("ab") as f:
        f.write(bytes(audio[2 * RATE :].tobytes()[:-2]))  # plus a torn half frame
    params, data = read_wav(tail_wav(path, 1.5))
    assert params.nframes == int(1.5 * RATE)  # ends at the last whole frame on disk
    assert data == audio[-int(1.5 * RATE) - 1 : -1].tobytes()


def test_tail_wav_on_foreign_files_with_extra_chunks(tmp_path: Path) -> None:
    audio = np.arange(-5000, 5000, dtype="<i2").tobytes()  # mono 8 kHz, 10000 frames
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 8000, 16000, 2, 16)
    info = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\x00"  # odd size, padded
    body = b"WAVE" + fmt + info + b"data" + struct.pack("<I", len(audio)) + audio + info
    path = tmp_path / "foreign.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    params, data = read_wav(tail_wav(path, 0.5))
    assert (params.nchannels, params.framerate, params.nframes) == (1, 8000, 4000)
    assert data == audio[-8000:]  # the trailing LIST chunk is not audio
    (tmp_path / "bad.wav").write_bytes(b"RIFX" + bytes(40))
    with pytest.raises(ValueError, match="not a WAV"):
        tail_wav(tmp_path / "bad.wav", 1)
    (tmp_path / "nodata.wav").write_bytes(b"RIFF" + struct.pack("<I", 4 + len(fmt)) + b"WAVE" + fmt)
    with pytest.raises(ValueError, match="data chunk"):
        tail_wav(tmp_path / "nodata.wav", 1)


def test_write_timing_is_printed_not_asserted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = ramp(320).tobytes()  # one 20 ms real-time listen message
    n = 5000
    with WavRecorder(tmp_path / "t.wav") as rec:
        start = time.perf_counter()
        for _ in range(n):
            rec.write(frame)
        per = (time.perf_counter() - start) / n * 1e6
    with capsys.disabled():
        print(f"\nWavRecorder.write (20 ms stereo frame, flushes included): {per:.2f} µs per frame")
    assert rec.frames == n * 320
