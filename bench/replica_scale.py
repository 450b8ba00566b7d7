"""The scale figure of replicas on Redis (issue 11 item 4): the same paced load through one process and two.

    python -m bench.replica_scale            # 100 calls per process, 20 s windows, three sides twice: ~5 minutes
    python -m bench.replica_scale --quick    # 3 calls per process, a 4 s window (tests/test_bench_smoke.py)

One run, several sides: outbound calls with ``listen=true`` (16 kHz stereo, one 20 ms frame per WebSocket
message, real time) from the emulator (scenario ``open-ended``), which runs in this process; the servers are
``vapi-mcp --transport http`` subprocesses, driven by the SDK's ``Client`` over HTTP. ``--calls`` is the load
*per server process*:

``--repeat`` (2) runs of **one**, **apart** and **two**, interleaved; each side keeps its run with the least CPU
per frame (the least disturbed by the rest of the machine), and every run's figure is printed.

- **one**: one server process, no Redis (the in-process store), ``--calls`` calls.
- **two**: two replicas sharing Redis (``VAPI_MCP_REDIS_URL``, a prefix of the run's own, distinct
  ``VAPI_MCP_REPLICA_ID`` and data dirs), ``2 × --calls`` calls. The calls are created through the two
  alternately; the replica that creates a call takes its lease and listens to it, so each carries half (the
  run prints the split it saw, counted from the recordings in each data dir).
- **apart**: two server processes without Redis, sharing nothing, ``2 × --calls`` calls (``--calls`` each): the
  ceiling of the ratio on this machine. Two busy processes on two vCPUs each pay more per frame than one alone
  (caches, the emulator, SMT siblings): what sharing the fleet costs is ``two / apart``, printed.
- **mirror** (``--no-mirror`` skips it): two replicas, ``--calls`` calls all created through r0, so r1 only
  mirrors them (every replica holds every call of the fleet): r1's CPU is what mirroring costs.
- **same total** (``--same-total``): two replicas sharing ``--calls`` calls (half each), for the record: a
  process's CPU per frame falls as its load grows (one event-loop wake-up serves more frames), so halving each
  process's load costs per frame whatever Redis does (measured: one process, no Redis, 30 calls 1.46 s and 60
  calls 1.86 s of CPU per 20 s). That is why the ratio compares processes under the same load each.

After every call's recording exists and a settle, each server process's CPU (psutil, user + system, every
thread), Redis's own CPU (``INFO cpu``: the server may run elsewhere), this process's (the emulator's) CPU and
the recordings' growth are read before and after ``--seconds`` of real time in which the clients send nothing.
A side **kept up** if the audio recorded per call fell behind the wall clock by at most 1.5 s on average.

The ratio: a Python server uses one core, so one process carries at most ``calls / (its CPU s per s)`` calls
(its calls per core). Two replicas spend ``replica CPU + Redis CPU`` for their calls and can use two cores, so
they carry ``2 × calls / (CPU s per s of both replicas and Redis)``. **Scale ratio = 2 × cpu_frame(one) /
cpu_frame(two, Redis included)**, per frame received (the same as per call-second), with each server process
under the same load on both sides (what each carries at capacity is what the ratio estimates). The emulator
is not counted on either side (on this machine it shares the cores with the servers; a real deployment has
no emulator).
Keys live under a prefix of the run's own, deleted at the end (never FLUSHALL).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psutil
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.listen_ingest import FRAME_BYTES, FRAMES_PER_S
from bench.replicas import API_KEY, TOKEN, _tool, cleanup, redis_cpu_s, start_server
from vapi_mcp.emulator import EmulatorOptions, running_emulator

MAX_LAG_S = 1.5  # mean audio lag per call over the window (a WAV grows in ~1 s steps)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replica_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="real-time calls per server process")
    parser.add_argument("--seconds", type=float, default=20.0, help="the measured window per side")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between all recording and the window")
    parser.add_argument("--no-mirror", dest="mirror", action="store_false", help="skip the mirror-cost side")
    parser.add_argument("--same-total", action="store_true", help="also two replicas sharing --calls calls")
    parser.add_argument("--repeat", type=int, default=2, help="runs of one and two, interleaved; the best kept")
    parser.add_argument("--quick", action="store_true", help="3 calls per process, a 4 s window")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.seconds, args.settle, args.repeat = 3, 4.0, 1.0, 1
    return args


async def _connect(stack: AsyncExitStack, url: str) -> Client:
    http = await stack.enter_async_context(httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60))
    for _ in range(300):
        try:
            return await stack.enter_async_context(Client(streamable_http_client(url, http_client=http)))
        except Exception:  # not listening yet
            await anyio.sleep(0.1)
    raise RuntimeError(f"no server at {url}")


def _wavs(root: Path) -> list[int]:
    return [p.stat().st_size for p in root.rglob("*.wav")] if root.exists() else []


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def side(
    args: argparse.Namespace, replicas: int, prefix: str | None, calls: int, creators: int = 0
) -> dict[str, Any]:
    """One side: ``replicas`` server processes (Redis when ``prefix``), ``calls`` calls split between the
    first ``creators`` of them (0: all)."""
    options = EmulatorOptions(api_key=API_KEY, scenario="open-ended", time_scale=1.0)
    with tempfile.TemporaryDirectory(prefix="vapi-mcp-scale-") as tmp:
        data = Path(tmp)
        async with running_emulator(options) as emulator, AsyncExitStack() as stack:
            names = [f"r{i}" for i in range(replicas)]
            procs = [start_server(emulator.base_url, name, data, prefix) for name in names]
            stack.callback(lambda: [(p.kill(), p.wait()) for p, _ in procs])
            clients = [await _connect(stack, url) for _, url in procs]
            call = {"customer_number": "+14155550123", "assistant_id": "asst-support", "listen": True}
            for i in range(calls):
                await _tool(clients[i % (creators or replicas)], "create_call", call)
            deadline = time.monotonic() + 60 + calls * 0.2
            while sum(len(_wavs(data / n)) for n in names) < calls:
                if time.monotonic() > deadline:
                    raise RuntimeError("not every call is recording")
                await anyio.sleep(0.2)
            await anyio.sleep(args.settle)
            ps = [psutil.Process(p.pid) for p, _ in procs]
            cpu0, redis0, emu0 = [_cpu(p) for p in ps], redis_cpu_s() if prefix else 0.0, _self_cpu()
            wav0, t0 = [_wavs(data / n) for n in names], time.monotonic()
            await anyio.sleep(args.seconds)
            cpu1, redis1, emu1 = [_cpu(p) for p in ps], redis_cpu_s() if prefix else 0.0, _self_cpu()
            wav1, wall = [_wavs(data / n) for n in names], time.monotonic() - t0
    frames = [(sum(b) - sum(a)) / FRAME_BYTES for a, b in zip(wav0, wav1, strict=True)]
    held = [len(w) for w in wav1]
    total = sum(frames)
    lag = (calls * wall * FRAMES_PER_S - total) / FRAMES_PER_S / max(calls, 1)
    cpu = [b - a for a, b in zip(cpu0, cpu1, strict=True)]
    redis_s = redis1 - redis0
    return {
        "replicas": replicas,
        "calls": calls,
        "calls_held": held,
        "wall_s": round(wall, 2),
        "frames": [round(f) for f in frames],
        "mean_lag_s": round(lag, 2),
        "kept_up": lag <= MAX_LAG_S,
        "cpu_s": [round(c, 2) for c in cpu],
        "cpu_us_per_frame": [round(c / f * 1e6, 1) if f else None for c, f in zip(cpu, frames, strict=True)],
        "redis_cpu_s": round(redis_s, 3),
        "redis_cpu_us_per_frame": round(redis_s / total * 1e6, 2) if total else None,
        "cpu_us_per_frame_all": round((sum(cpu) + redis_s) / total * 1e6, 1) if total else None,
        "emulator_utilisation": round((emu1 - emu0) / wall, 3),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"vapi-mcp-bench-{secrets.token_hex(4)}:"
    load0 = os.getloadavg()
    try:
        ones: list[dict[str, Any]] = []
        aparts: list[dict[str, Any]] = []
        twos: list[dict[str, Any]] = []
        for i in range(args.repeat):  # interleaved, so that a busy spell of the machine falls on every side
            ones.append(await side(args, 1, None, args.calls))
            aparts.append(await side(args, 2, None, 2 * args.calls))
            twos.append(await side(args, 2, f"{prefix}two{i}:", 2 * args.calls))
        one, apart, two = _best(ones), _best(aparts), _best(twos)
        mirror = await side(args, 2, prefix + "mirror:", args.calls, creators=1) if args.mirror else None
        same = await side(args, 2, prefix + "same:", args.calls) if args.same_total else None
    finally:
        cleanup(prefix)
    report: dict[str, Any] = {"cores": os.cpu_count(), "prefix": prefix, "one": one, "apart": apart, "two": two}
    report["runs_us_per_frame"] = {
        "one": [r["cpu_us_per_frame_all"] for r in ones],
        "apart": [r["cpu_us_per_frame_all"] for r in aparts],
        "two": [r["cpu_us_per_frame_all"] for r in twos],
    }
    apart_frame = apart["cpu_us_per_frame_all"]
    if apart_frame and one["cpu_us_per_frame_all"] and two["cpu_us_per_frame_all"]:
        # What two processes that share nothing reach here (the machine's own ceiling for the ratio), and
        # what sharing the fleet costs on top of that.
        report["ceiling_ratio_apart"] = round(2 * one["cpu_us_per_frame_all"] / apart_frame, 2)
        report["sharing_cost"] = round(two["cpu_us_per_frame_all"] / apart_frame, 3)
    if same is not None:
        report["same_total"] = same
        report["scale_ratio_same_total"] = round(2 * one["cpu_us_per_frame_all"] / same["cpu_us_per_frame_all"], 2)
    if mirror is not None:
        report["mirror"] = mirror
        # r1 owns nothing: its CPU is what mirroring the other replica's calls costs, per frame r0 received.
        report["mirror_cpu_us_per_frame"] = round(mirror["cpu_s"][1] / max(mirror["frames"][0], 1) * 1e6, 1)
    report["load"] = [round(x, 2) for x in load0] + [round(x, 2) for x in os.getloadavg()]
    one_frame, two_frame = one["cpu_us_per_frame_all"], two["cpu_us_per_frame_all"]
    if one_frame and two_frame:
        report["calls_per_core_one"] = round(1e6 / one_frame / FRAMES_PER_S)
        report["calls_two_replicas_2_cores"] = round(2 * 1e6 / two_frame / FRAMES_PER_S)
        report["scale_ratio"] = round(2 * one_frame / two_frame, 2)
    return report


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run that spent the least CPU per frame (the one least disturbed by the rest of the machine)."""
    return min(runs, key=lambda r: r["cpu_us_per_frame_all"] or float("inf"))


def _side_lines(name: str, res: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {res['calls']} calls, held {res['calls_held']}, window {res['wall_s']} s, frames {res['frames']}, "
        f"kept up {'yes' if res['kept_up'] else 'NO'} (mean lag {res['mean_lag_s']} s per call)",
        f"  CPU per process {res['cpu_s']} s, per frame {res['cpu_us_per_frame']} µs; Redis {res['redis_cpu_s']} s "
        f"({res['redis_cpu_us_per_frame']} µs/frame); all together {res['cpu_us_per_frame_all']} µs/frame; "
        f"emulator (not counted) {res['emulator_utilisation']:.0%} of a core",
    ]


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = anyio.run(main, args)
    load = report["load"]
    print(f"machine: {report['cores']} cores; load average before {load[:3]}, after {load[3:]}")
    lines = _side_lines("one process, no Redis", report["one"])
    lines += _side_lines("apart: two independent processes, no Redis, sharing nothing", report["apart"])
    lines += _side_lines("two replicas on Redis", report["two"])
    for line in lines:
        print(line)
    runs = report["runs_us_per_frame"]
    print(
        f"CPU per frame of each run (µs, all processes and Redis): one {runs['one']}, apart {runs['apart']}, "
        f"two {runs['two']}; best kept"
    )
    if "scale_ratio" in report:
        print(
            f"calls per core, one process: {report['calls_per_core_one']}; two replicas on 2 cores (Redis counted): "
            f"{report['calls_two_replicas_2_cores']}; scale ratio 2 x cpu/frame(one) / cpu/frame(two + Redis), "
            f"{report['one']['calls']} calls per process on both sides = {report['scale_ratio']}x (target >= 1.8x)"
        )
    if "ceiling_ratio_apart" in report:
        print(
            f"two processes sharing nothing reach {report['ceiling_ratio_apart']}x by the same formula (this "
            f"machine's ceiling); sharing the fleet through Redis costs {report['sharing_cost']}x their CPU per frame"
        )
    if "same_total" in report:
        print(_side_lines("same total: two replicas sharing the one process's calls", report["same_total"])[1])
        print(f"  the same ratio with half the load per replica: {report['scale_ratio_same_total']}x")
    if "mirror" in report:
        print(_side_lines("mirror: two replicas, every call created (owned) by r0", report["mirror"])[1])
        print(
            f"  r1 owns nothing: mirroring r0's calls costs it {report['mirror_cpu_us_per_frame']} µs "
            "per frame r0 receives"
        )
    print(json.dumps(report))


if __name__ == "__main__":
    run()
