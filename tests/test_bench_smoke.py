"""The listen-ingest benchmark runs end to end in a tiny configuration and prints its report.

It runs as a subprocess, exactly as a person runs it (``python -m bench.listen_ingest``): the benchmark
spawns its own generator and receiver processes, which must not share this test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.listen_ingest import QUICK, expected_messages, parse_args

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "bench.listen_ingest", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_quick_run_prints_every_part_and_a_consistent_result(tmp_path: Path) -> None:
    proc = _run("--quick", "--streams", "4", "--seconds", "2", "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    starts = ("machine:", "saturated:", "  bare ", "  direct ", "  pipeline ", "  ratio pipeline/bare", "real time:")
    for start in starts:
        assert any(line.startswith(start) for line in lines), f"no line starting {start!r}:\n{proc.stdout}"
    assert any(line.startswith("memory:") for line in lines)
    assert any(line.startswith("targets:") for line in lines)

    result_lines = [line for line in lines if line.startswith("RESULT ")]
    assert len(result_lines) == 1 and lines[-1] == result_lines[0]
    result = json.loads(result_lines[0].removeprefix("RESULT "))
    assert result["streams"] == 4
    assert result["cores"] == os.cpu_count()
    per_mode = expected_messages(2 * 50) * 4  # 4 streams x 100 audio frames + one transcript each
    assert result["frames"] == {"bare": per_mode, "direct": per_mode, "pipeline": per_mode}
    for mode in ("bare", "direct", "pipeline"):
        assert result["frames_per_s"][mode] > 0
        assert result["cpu_us_per_frame"][mode] > 0
    for mode in ("bare", "pipeline"):
        assert result["realtime"][mode]["kept_up"] is True
    cpu = result["cpu_us_per_frame"]
    assert result["ratio"] == pytest.approx(cpu["pipeline"] / cpu["bare"], rel=0.01)
    assert result["ratio_direct"] == pytest.approx(cpu["pipeline"] / cpu["direct"], rel=0.01)
    assert result["calls_per_core"] > 0
    memory = result["memory"]
    assert memory["sessions"] == QUICK.long_sessions
    assert memory["rss_end_mib"] >= memory["rss_baseline_mib"] > 0
    assert set(result["targets"]) == {"ratio_le_1_5", "realtime_calls_ge_500", "memory_flat"}
    assert list(tmp_path.iterdir()) == []  # the pipeline's journals and recordings are cleaned up


def test_bad_arguments_are_refused() -> None:
    proc = _run("--quick", "--streams", "0")
    assert proc.returncode == 2
    assert "at least 1" in proc.stderr


def test_quick_is_small_and_flags_override_it() -> None:
    opts = parse_args(["--quick", "--streams", "7"])
    assert opts.streams == 7
    assert opts.seconds == QUICK.seconds and opts.long_minutes == QUICK.long_minutes
    full = parse_args([])
    assert full.streams >= 100 and full.long_minutes >= 10
