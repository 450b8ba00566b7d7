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

# The benches measure CPU and keep real-time pace: under pytest-xdist (`-n`) they run one after another on one
# worker (`--dist loadgroup`), never two at once, while the other workers run the rest of the suite.
pytestmark = pytest.mark.xdist_group("bench")


def _run(*args: str, module: str = "bench.listen_ingest", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_quick_run_prints_every_part_and_a_consistent_result(tmp_path: Path) -> None:
    proc = _run("--quick", "--streams", "4", "--seconds", "2", "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    starts = ("machine:", "saturated:", "  bare ", "  direct ", "  pipeline ", "  alerts ", "  ratio pipeline/bare")
    starts += ("  the alert rules' cost: alerts/pipeline", "real time:")
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
    assert result["frames"] == {"bare": per_mode, "direct": per_mode, "pipeline": per_mode, "alerts": per_mode}
    for mode in ("bare", "direct", "pipeline", "alerts"):
        assert result["frames_per_s"][mode] > 0
        assert result["cpu_us_per_frame"][mode] > 0
    for mode in ("bare", "pipeline"):
        assert result["realtime"][mode]["kept_up"] is True
    cpu = result["cpu_us_per_frame"]
    assert result["ratio"] == pytest.approx(cpu["pipeline"] / cpu["bare"], rel=0.01)
    assert result["ratio_direct"] == pytest.approx(cpu["pipeline"] / cpu["direct"], rel=0.01)
    assert result["ratio_rules"] == pytest.approx(cpu["alerts"] / cpu["pipeline"], rel=0.01)
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


# ============================================================================================== server_capacity


def test_server_capacity_quick_run_reports_and_cleans_up(tmp_path: Path) -> None:
    """The end-to-end capacity bench, tiny: 10 calls through the real server, a 1 s window."""
    args = ["--quick", "--calls", "10", "--seconds", "1", "--sample", "5", "--data-dir", str(tmp_path)]
    proc = _run(*args, module="bench.server_capacity", timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for start in ("machine:", "server: 10 calls", "  cpu=", "  kept up:", "  memory:", "emulator (not counted):"):
        assert any(line.startswith(start) for line in lines), f"no line starting {start!r}:\n{proc.stdout}"
    assert lines[-1].startswith("RESULT ")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["calls"] == 10 and result["sampled_calls"] == 5
    assert result["connected_end"] == 10 and result["sample_reconnects"] == 0
    assert result["cpu_s"] > 0 and result["frames"] > 0 and result["emulator_cpu_s"] > 0
    # From cpu_s and wall_s, which RESULT rounds to 3 decimals (utilisation too: ~3 % off at a quick run's 0.03).
    # cpu_s is ~0.02 s in a 1 s window, so its rounding alone can be 2.6 % off: allow what rounding can do.
    rounding = 0.0005 / result["cpu_s"] + 0.0005 / result["wall_s"]
    expected = 10 * result["wall_s"] / result["cpu_s"]
    assert result["calls_per_core"] == pytest.approx(expected, rel=1.1 * rounding), (result["cpu_s"], result["wall_s"])
    assert result["fds_end"] > result["fds_baseline"]
    assert list(tmp_path.iterdir()) == []  # journals, recordings and the server log are gone


def test_server_capacity_defaults_and_quick() -> None:
    from bench.server_capacity import QUICK
    from bench.server_capacity import parse_args as capacity_args

    full = capacity_args([])
    assert full.calls == 1000 and full.seconds == 30
    quick = capacity_args(["--quick", "--calls", "7"])
    assert quick.calls == 7 and quick.seconds == QUICK.seconds


# ============================================================================================== soak


def test_soak_quick_run_checks_every_call_against_ground_truth(tmp_path: Path) -> None:
    """The soak, tiny: 6 calls over 9 s with every kind of fault; each summary against the ground truth."""
    args = ["--quick", "--calls", "6", "--minutes", "0.15", "--concurrency", "4", "--call-minutes", "0.5"]
    proc = _run(*args, "--interval", "3", "--data-dir", str(tmp_path), module="bench.soak", timeout=60)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for start in ("machine:", "soak: 6 calls", "baseline", "idle", "faults served:", "flatness: FLAT", "ground truth:"):
        assert any(line.lstrip().startswith(start) for line in lines), f"no line {start!r}:\n{proc.stdout}"
    assert lines[-1].startswith("RESULT ")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    truth = result["ground_truth"]
    assert (truth["checked"], truth["passed"], truth["missing"]) == (6, 6, 0), truth["failures"]
    assert result["flatness"]["flat"] is True
    faults = result["emulator"]["faults"]
    assert faults["create"] >= 1 and faults["get"] >= 1  # the first of each is always a fault
    assert result["emulator"]["drops"] >= 1 and truth["reconnected"] >= 1
    samples = result["samples"]
    assert samples[0]["stage"] == "baseline" and samples[-1]["stage"] == "idle"
    assert samples[-1]["done"] == 6 and samples[-1]["live"] == 0
    assert list(tmp_path.iterdir()) == []  # journals, recordings and the server log are gone


def test_soak_plan_keeps_the_wanted_concurrency() -> None:
    from bench.soak import QUICK, plan
    from bench.soak import parse_args as soak_args

    full = soak_args([])
    assert (full.calls, full.minutes) == (1000, 10)
    schedule = plan(full)
    # Little's law: calls created every T/concurrency seconds, each lasting T real seconds on average.
    assert schedule.mean_real_s / schedule.create_every_s == pytest.approx(full.concurrency)
    assert schedule.time_scale * schedule.mean_real_s == pytest.approx(full.call_minutes * 60)
    assert sum(d > (schedule.drop_at_s or 0) for d in schedule.durations) == pytest.approx(250, abs=5)
    quick = soak_args(["--quick", "--calls", "7"])
    assert quick.calls == 7 and quick.minutes == QUICK.minutes


def test_recovery_bench_quick_run_prints_its_figures() -> None:
    proc = _run("--quick", module="bench.recovery")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("index: 20 ended calls") and lines[2].startswith("replay: ")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["calls"] == 20 and result["audio_s"] == 12.0
    assert result["bytes_per_call"] > 0 and result["replay_cpu_s"] > 0 and result["turns"] >= 1


def test_restart_bench_quick_run_resumes_every_call() -> None:
    proc = _run("--quick", module="bench.restart", timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1].removeprefix("RESULT "))
    assert result["calls"] == 2 and result["covered"] is True
    assert 0 < result["start_s"] <= result["listed_s"] <= result["resumed_s"]


# ============================================================================================== idle_calls


@pytest.mark.parametrize("webhooks", [False, True])
def test_idle_calls_quick_run_polls_once_per_interval_or_not_at_all(webhooks: bool) -> None:
    """The idle-calls bench, tiny: 20 open calls, a 4 s window; one list request per interval, none by webhook."""
    proc = _run("--quick", *(["--webhooks"] if webhooks else []), module="bench.idle_calls", timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("RESULT ") and "idle calls" in lines[0]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["calls"] == result["live_calls"] == 20
    assert result["requests_per_interval"] <= (0 if webhooks else 1.5)  # per-call polling would be 20


# ============================================================================================== replicas


def test_replicas_quick_run_reports_and_cleans_up(redis_prefix: str) -> None:
    """The replicas bench, tiny: 2,000 events through each store, no takeover; its keys are gone afterwards."""
    import redis

    from tests.conftest import REDIS_URL

    proc = _run("--quick", module="bench.replicas", timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["events"] == 2000 and result["local_events_per_s"] > 0 and result["redis_events_per_s"] > 0
    assert result["ratio_local_over_redis"] > 0 and "takeover_s" not in result
    client = redis.Redis.from_url(REDIS_URL)  # pyright: ignore[reportUnknownMemberType]
    # Only this run's keys: another bench run may share the server (and the db) at the same time.
    assert not list(client.scan_iter(match=result["prefix"] + "*")), "the bench deletes its keys"
    client.close()


def test_replica_scale_quick_run_reports_the_split_the_ratio_and_cleans_up(redis_prefix: str) -> None:
    """The scale bench, tiny: one process and two replicas carry the same calls each, split by who created them."""
    import redis

    from tests.conftest import REDIS_URL

    proc = _run("--quick", module="bench.replica_scale", timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    one, two, mirror = result["one"], result["two"], result["mirror"]
    assert one["calls_held"] == [3] and two["calls_held"] == [3, 3] and mirror["calls_held"] == [3, 0]
    assert result["apart"]["calls_held"] == [3, 3] and result["apart"]["redis_cpu_s"] == 0
    assert result["sharing_cost"] > 0 and result["ceiling_ratio_apart"] > 0 and "sharing nothing" in proc.stdout
    assert all(f > 0 for f in one["frames"] + two["frames"]) and one["redis_cpu_s"] == 0 <= two["redis_cpu_s"]
    assert result["scale_ratio"] > 0 and "scale ratio" in proc.stdout and "load average" in proc.stdout
    client = redis.Redis.from_url(REDIS_URL)  # pyright: ignore[reportUnknownMemberType]
    # Only this run's keys: another bench run may share the server (and the db) at the same time.
    assert not list(client.scan_iter(match=result["prefix"] + "*")), "the bench deletes its keys"
    client.close()
