"""End-to-end real-time capacity: how many paced calls one core of the whole server carries.

The ``listen_ingest`` benchmark measures the listen pipeline on its own; this one measures the real server
(DESIGN §10, issue 7 item 7): ``vapi_mcp.face.create_server(settings)`` driven through its public MCP
interface by the SDK's in-memory ``mcp.Client``, against the Vapi emulator streaming every call in real
time. It creates ``--calls`` (1,000) outbound calls with ``listen=true`` through the ``create_call`` tool,
waits until every call's listen session is ``connected``, lets the server settle, then takes the server
process's CPU time from the OS (``getrusage``, the whole process, every thread) over a steady window of
``--seconds`` (30) of real time in which the MCP client sends nothing. Inside the window the server does
what it does for N supervised, listened-to calls: receive every 20 ms frame (one WebSocket message each,
16 kHz stereo s16le), analyse it, journal the event log, write the WAV recording, and poll each call's
status over REST every ``--poll-interval`` seconds (the server's default, 2 s).

Printed: the server's CPU utilisation, CPU µs per frame (frames counted from the recordings' growth), and
**calls per core = N / (CPU seconds / W)**; whether it kept up (each sampled call's ``get_audio_summary``
``duration_s`` grows as fast as the wall clock, every session still ``connected``, no reconnects); the
server's RSS per call and open file descriptors; and the emulator's own CPU utilisation, since the emulator
(uvicorn, one event loop) may be the bottleneck on a small machine: a generator near 100 % of a core means
the figure is bounded by the generator, not by the server.

Processes: the emulator (``running_emulator``, scenario ``open-ended``, ``time_scale=1``) runs in its own
process so that its CPU is not counted; the server and its in-memory client run in another. Everything is on
127.0.0.1, every count and wait is bounded, both processes stop by themselves, and the data directory
(journals and recordings, 64 kB/s per call) is a temporary directory removed at the end. The soft
``RLIMIT_NOFILE`` is raised to what N calls need (about two descriptors per call in each process), up to
the hard limit.

Run from the repository root: ``python -m bench.server_capacity`` (``--quick`` for a few-second smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.metadata
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from bench.listen_ingest import FRAME_BYTES, FRAMES_PER_S

__all__ = ["QUICK", "Options", "main", "parse_args", "run"]

API_KEY = "bench-private-key-0123456789"
CUSTOMER = "+14155550123"
WAV_BYTES_PER_S = FRAME_BYTES * FRAMES_PER_S  # 64,000: what one call's recording grows by per second
# A sampled call kept up if its audio fell behind the wall clock by at most this much over the window: the
# summary's duration_s moves in whole analysis blocks (1 s), so a call that keeps up may show up to 1 s less.
MAX_LAG_GROWTH_S = 1.5
FDS_PER_CALL = 4  # headroom: a listen socket per call, REST connections, journal and recording files
PROCESS_TIMEOUT_S = 600.0  # the server process is killed after this much more than the run should take


@dataclass(frozen=True)
class Options:
    calls: int = 1000
    seconds: float = 30.0  # the measured window
    settle: float = 5.0  # seconds between "all connected" and the window
    sample: int = 50  # calls whose audio summary is read before and after the window
    poll_interval: float = 2.0  # the server's own default; the tests use 0.2 (5,000 GET/s at 1,000 calls)
    concurrency: int = 20  # create_call requests in flight
    data_dir: str | None = None


QUICK = Options(calls=20, seconds=5.0, settle=0.5, sample=20, poll_interval=0.5)


def raise_fd_limit(wanted: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to ``wanted`` (at most the hard limit); returns (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _fd_need(calls: int) -> int:
    return 1024 + FDS_PER_CALL * calls


def _cpu_self() -> tuple[float, float]:
    """(user, system) CPU seconds of this whole process, every thread, from the OS."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


# ============================================================================================== emulator


def _emulator_main(conn: Connection, calls: int, lifetime_s: float) -> None:
    raise_fd_limit(_fd_need(calls))
    asyncio.run(_emulate(conn, lifetime_s))


async def _emulate(conn: Connection, lifetime_s: float) -> None:
    from vapi_mcp.emulator import EmulatorOptions, running_emulator

    options = EmulatorOptions(api_key=API_KEY, scenario="open-ended", time_scale=1.0)
    async with running_emulator(options) as emu:
        conn.send(emu.base_url)
        # Serve until the parent says anything (or goes away), or the lifetime is over; the wait is a thread
        # blocked in poll(), which costs the event loop nothing.
        await asyncio.to_thread(conn.poll, lifetime_s)


# ============================================================================================== server


@dataclass(frozen=True)
class ServerSpec:
    opts: Options
    base_url: str
    emulator_pid: int
    data_dir: str


def _configure_logging(path: Path) -> None:
    """Log as ``vapi-mcp`` itself does (INFO, its format, httpx quiet), to a file in the temporary data dir.

    Configured before the server is built, so that the MCP SDK does not install its own (rich) handler.
    """
    import logging

    logging.basicConfig(
        filename=path, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _server_main(conn: Connection, calls: int) -> None:
    raise_fd_limit(_fd_need(calls))
    for module in ("mcp", "vapi_mcp.face", "psutil"):  # the heavy imports, while the emulator starts
        importlib.import_module(module)
    try:
        spec: ServerSpec = conn.recv()  # or EOF: the parent gave up (the emulator did not start)
    except EOFError:
        return
    _configure_logging(Path(spec.data_dir) / "server.log")
    try:
        result = asyncio.run(_drive(spec))
    except Exception as exc:  # reported to the parent, which fails the run
        result = {"error": _describe(exc)}
    conn.send(result)
    conn.close()


def _describe(exc: BaseException) -> str:
    """The error, with the first leaves of an exception group (a task group wraps what failed)."""
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        inner = group.exceptions
        return f"{len(inner)} error(s): " + "; ".join(_describe(e) for e in inner[:3])
    return f"{type(exc).__name__}: {exc}"


def _progress(message: str) -> None:
    """A phase note on stderr (stdout carries the report): a full run takes a minute or two."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _wav_bytes(root: Path) -> int:
    """Bytes of every recording under the data dir (a WAV is flushed about once a second of audio)."""
    return sum(p.stat().st_size for p in root.rglob("*.wav"))


async def _tool(client: Any, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    if result.is_error or result.structured_content is None:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        raise RuntimeError(f"{name} failed: {text[:500]}")
    content: dict[str, Any] = result.structured_content
    return content


async def _listen_states(client: Any, ids: set[str]) -> dict[str, int]:
    """How many of ``ids`` are in each listen state, from the server's own ``vapi://calls`` resource."""
    result = await client.read_resource("vapi://calls", cache_mode="bypass")
    calls: list[dict[str, Any]] = json.loads(result.contents[0].text)["calls"]
    states: dict[str, int] = {}
    for info in calls:
        if info["call_id"] in ids:
            states[info["listen_state"]] = states.get(info["listen_state"], 0) + 1
    return states


async def _durations(client: Any, ids: Sequence[str]) -> list[tuple[float, float]]:
    """(wall time, audio seconds received) per call, read one after the other through get_audio_summary."""
    out: list[tuple[float, float]] = []
    for call_id in ids:
        summary = await _tool(client, "get_audio_summary", {"call_id": call_id})
        out.append((time.perf_counter(), float(summary["duration_s"])))
    return out


async def _drive(spec: ServerSpec) -> dict[str, Any]:
    import gc

    import anyio
    import psutil
    from mcp import Client

    from vapi_mcp.face import create_server
    from vapi_mcp.settings import Settings

    opts, root = spec.opts, Path(spec.data_dir)
    me, emulator = psutil.Process(), psutil.Process(spec.emulator_pid)
    settings = Settings.model_validate(
        {
            "api_key": API_KEY,
            "base_url": spec.base_url,
            "data_dir": root,
            "poll_interval_s": opts.poll_interval,
            "request_timeout_s": 30.0,
            "control_timeout_s": 10.0,
        }
    )
    r: dict[str, Any] = {"fd_limit": list(resource.getrlimit(resource.RLIMIT_NOFILE))}
    async with Client(create_server(settings)) as client:
        gc.collect()
        r["rss_baseline"], r["fds_baseline"] = me.memory_info().rss, me.num_fds()

        # Create the calls, a bounded number in flight.
        ids: list[str] = []
        limiter = anyio.CapacityLimiter(opts.concurrency)

        async def create() -> None:
            async with limiter:
                args = {"customer_number": CUSTOMER, "assistant_id": "asst-support", "listen": True}
                ids.append(str((await _tool(client, "create_call", args))["call_id"]))

        t = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(opts.calls):
                group.start_soon(create)
        r["create_s"] = time.perf_counter() - t
        _progress(f"created {len(ids):,} calls in {r['create_s']:.1f} s; waiting for every listen session")

        # Wait until every listen session is connected.
        wanted, deadline = set(ids), time.perf_counter() + 60 + 0.05 * opts.calls + 3 * opts.poll_interval
        while True:
            states = await _listen_states(client, wanted)
            if states.get("connected", 0) == len(wanted) or time.perf_counter() > deadline:
                break
            await anyio.sleep(0.5)
        r["connect_s"] = time.perf_counter() - t - r["create_s"]
        if states.get("connected", 0) < len(wanted):
            raise RuntimeError(f"not every call's listen session connected in time: {states}")
        _progress(f"all {len(ids):,} listen sessions connected after {r['connect_s']:.1f} s more; settling")
        await anyio.sleep(opts.settle)

        # The steady window: nothing from the client, only the server's own work.
        step = max(1, len(ids) // opts.sample)
        sample = ids[::step][: opts.sample]
        before = await _durations(client, sample)
        wav0 = _wav_bytes(root)
        gc.collect()
        _progress(f"measuring for {opts.seconds:g} s")
        cpu0, emu0, t0 = _cpu_self(), sum(emulator.cpu_times()[:2]), time.perf_counter()
        await anyio.sleep(opts.seconds)
        cpu1, emu1, t1 = _cpu_self(), sum(emulator.cpu_times()[:2]), time.perf_counter()
        r["rss_end"], r["fds_end"], r["threads"] = me.memory_info().rss, me.num_fds(), me.num_threads()
        wav1 = _wav_bytes(root)
        after = await _durations(client, sample)
        r["states_end"] = await _listen_states(client, wanted)
        reconnects = 0
        for call_id in sample:
            page = await _tool(client, "get_call_events", {"call_id": call_id, "types": ["listen.reconnecting"]})
            reconnects += len(page["events"])
        r["sample_reconnects"] = reconnects
        r["emulator_rss"] = emulator.memory_info().rss
        _progress("measured; shutting the server down")
        t = time.perf_counter()
    r["shutdown_s"] = time.perf_counter() - t
    user, system = (b - a for a, b in zip(cpu0, cpu1, strict=True))
    r.update(wall_s=t1 - t0, cpu_user_s=user, cpu_sys_s=system, emulator_cpu_s=emu1 - emu0, wav_bytes=wav1 - wav0)
    pairs = list(zip(before, after, strict=True))
    r["rates"] = [(d1 - d0) / (w1 - w0) for (w0, d0), (w1, d1) in pairs]
    r["lag_growth_s"] = [(w1 - w0) - (d1 - d0) for (w0, d0), (w1, d1) in pairs]
    r["log_bytes"] = (root / "server.log").stat().st_size
    return r


# ============================================================================================== orchestration


def _start_emulator(ctx: Any, opts: Options, lifetime_s: float) -> tuple[Any, Connection, str]:
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_emulator_main, args=(child, opts.calls, lifetime_s), name="bench-emulator", daemon=True)
    proc.start()
    child.close()
    try:
        if parent.poll(120):
            return proc, parent, str(parent.recv())
    except EOFError:
        pass
    _stop(proc)
    raise RuntimeError("the emulator did not start")


def _stop(proc: Any, conn: Connection | None = None) -> None:
    """Ask a child to stop (if it listens on ``conn``), give it 15 s, then kill it."""
    with contextlib.suppress(OSError):
        if conn is not None:
            conn.send("stop")
    proc.join(15)
    if proc.is_alive():
        proc.kill()
        proc.join(5)


def _measure(opts: Options) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    budget = 120 + 0.1 * opts.calls + 3 * opts.poll_interval + opts.settle + opts.seconds + PROCESS_TIMEOUT_S
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_server_main, args=(child, opts.calls), name="bench-server")
    server.start()  # it imports while the emulator starts
    child.close()
    try:
        emulator, emu_conn, base_url = _start_emulator(ctx, opts, budget + 60)
        try:
            with tempfile.TemporaryDirectory(prefix="vapi-mcp-capacity-", dir=opts.data_dir) as data_dir:
                parent.send(ServerSpec(opts, base_url, emulator.pid, data_dir))
                if not parent.poll(budget):
                    raise RuntimeError(f"the server process did not finish in {budget:.0f} s")
                try:
                    result: dict[str, Any] = parent.recv()
                except EOFError:
                    raise RuntimeError(f"the server process died (exit code {server.exitcode})") from None
                _stop(server)  # its journals and recordings are closed before the directory goes
        finally:
            _stop(emulator, emu_conn)
    finally:
        parent.close()
        _stop(server)
    if "error" in result:
        raise RuntimeError(f"the server process failed: {result['error']}")
    return result


def _derive(opts: Options, r: dict[str, Any]) -> dict[str, Any]:
    n, wall = opts.calls, r["wall_s"]
    cpu = r["cpu_s"] = r["cpu_user_s"] + r["cpu_sys_s"]
    frames = r["wav_bytes"] / FRAME_BYTES
    rates: list[float] = r["rates"]
    connected = r["states_end"].get("connected", 0)
    lag = max(r["lag_growth_s"])
    kept_up = lag <= MAX_LAG_GROWTH_S and connected == n and r["sample_reconnects"] == 0
    return {
        "calls": n,
        "seconds": opts.seconds,
        "poll_interval_s": opts.poll_interval,
        "wall_s": wall,
        "cpu_s": cpu,
        "utilisation": cpu / wall,
        "frames": round(frames),
        "frames_expected": n * wall * FRAMES_PER_S,
        "cpu_us_per_frame": cpu / frames * 1e6 if frames else float("nan"),
        "calls_per_core": n / (cpu / wall),
        # The same from what arrived: below calls_per_core when the calls were not all received in real time.
        "calls_per_core_received": frames / wall / FRAMES_PER_S / (cpu / wall),
        "cpu_user_s": r["cpu_user_s"],
        "cpu_sys_s": r["cpu_sys_s"],
        "audio_rate_mean": sum(rates) / len(rates),
        "audio_rate_min": min(rates),
        "max_lag_growth_s": lag,
        "frames_ratio": frames / (n * wall * FRAMES_PER_S),
        "log_bytes": r["log_bytes"],
        "sampled_calls": len(rates),
        "connected_end": connected,
        "states_end": r["states_end"],
        "sample_reconnects": r["sample_reconnects"],
        "kept_up": kept_up,
        "rss_baseline_mib": r["rss_baseline"] / 2**20,
        "rss_end_mib": r["rss_end"] / 2**20,
        "rss_per_call_kib": (r["rss_end"] - r["rss_baseline"]) / n / 1024,
        "fds_baseline": r["fds_baseline"],
        "fds_end": r["fds_end"],
        "fds_per_call": (r["fds_end"] - r["fds_baseline"]) / n,
        "fd_limit": r["fd_limit"],
        "threads": r["threads"],
        "emulator_cpu_s": r["emulator_cpu_s"],
        "emulator_utilisation": r["emulator_cpu_s"] / wall,
        "emulator_rss_mib": r["emulator_rss"] / 2**20,
        "create_s": r["create_s"],
        "connect_s": r["connect_s"],
        "shutdown_s": r["shutdown_s"],
    }


def _report(res: dict[str, Any], out: Callable[[str], None]) -> None:
    out(
        f"server: {res['calls']:,} calls listening (16 kHz stereo, one 20 ms frame per message, real time), "
        f"status poll every {res['poll_interval_s']:g} s; created in {res['create_s']:.1f} s, all connected "
        f"{res['connect_s']:.1f} s later; window {res['wall_s']:.1f} s"
    )
    out(
        f"  cpu={res['cpu_s']:.2f} s (user {res['cpu_user_s']:.2f} + sys {res['cpu_sys_s']:.2f}) over "
        f"{res['wall_s']:.2f} s  util={res['utilisation']:.1%}  frames={res['frames']:,} (expected "
        f"{res['frames_expected']:,.0f})  cpu/frame={res['cpu_us_per_frame']:.2f} µs  -> "
        f"{res['calls_per_core']:,.0f} real-time calls/core ({res['calls_per_core_received']:,.0f} by frames received)"
    )
    out(
        f"  kept up: {'yes' if res['kept_up'] else 'NO'} (over {res['sampled_calls']} sampled calls, audio s per "
        f"wall s: mean {res['audio_rate_mean']:.3f}, min {res['audio_rate_min']:.3f}; most fallen behind "
        f"{res['max_lag_growth_s']:+.2f} s (limit {MAX_LAG_GROWTH_S:g}); all recordings grew "
        f"{res['frames_ratio']:.3f}x real time; connected at the end {res['connected_end']:,}/{res['calls']:,}; "
        f"reconnects in the sample {res['sample_reconnects']}; server log {res['log_bytes']:,} bytes)"
    )
    out(
        f"  memory: rss {res['rss_baseline_mib']:.1f} MiB -> {res['rss_end_mib']:.1f} MiB "
        f"({res['rss_per_call_kib']:,.0f} KiB/call); fds {res['fds_baseline']} -> {res['fds_end']:,} "
        f"({res['fds_per_call']:.2f}/call, soft limit {res['fd_limit'][0]:,}); threads {res['threads']}; "
        f"shutdown {res['shutdown_s']:.1f} s"
    )
    gen = res["emulator_utilisation"]
    note = "  <- near a full core: the generator may be the bottleneck" if gen >= 0.9 else ""
    out(
        f"emulator (not counted): cpu={res['emulator_cpu_s']:.2f} s  util={gen:.1%}  "
        f"rss {res['emulator_rss_mib']:.0f} MiB{note}"
    )


def run(opts: Options, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure once; print the report and a final ``RESULT {...}`` JSON line; return the RESULT object."""
    cores = os.cpu_count() or 1
    soft, hard = raise_fd_limit(_fd_need(opts.calls))
    load = os.getloadavg()
    out(
        f"machine: {cores} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"websockets {importlib.metadata.version('websockets')}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"RLIMIT_NOFILE soft {soft:,} (hard {hard:,})"
    )
    res = _derive(opts, _measure(opts))
    res["cores"] = cores
    res["load_before"] = [round(x, 2) for x in load]
    res["load_after"] = [round(x, 2) for x in os.getloadavg()]
    _report(res, out)
    out(f"load average after: {' '.join(f'{x:.2f}' for x in res['load_after'])}")
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()}
    out("RESULT " + json.dumps(rounded, sort_keys=True))
    return res


# ============================================================================================== CLI


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.server_capacity", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--calls", type=int, help="concurrent real-time calls, all listened to (default 1000)")
    p.add_argument("--seconds", type=float, help="length of the measured window (default 30)")
    p.add_argument("--settle", type=float, help="seconds between all connected and the window (default 5)")
    p.add_argument("--sample", type=int, help="calls whose audio summary checks the pace (default 50)")
    p.add_argument("--poll-interval", type=float, help="the server's status poll interval (default 2, its own)")
    p.add_argument("--concurrency", type=int, help="create_call requests in flight (default 20)")
    p.add_argument("--data-dir", help="where the journals and recordings go (a temp dir inside, removed)")
    p.add_argument("--quick", action="store_true", help="20 calls, 5 s window (a smoke test, a few seconds)")
    args = p.parse_args(argv)
    base = QUICK if args.quick else Options()
    given = {k: v for k, v in vars(args).items() if k != "quick" and v is not None}
    opts = Options(**{**asdict(base), **given})
    if min(opts.calls, opts.sample, opts.concurrency) < 1:
        p.error("counts must be at least 1")
    if min(opts.seconds, opts.poll_interval) <= 0 or opts.settle < 0:
        p.error("durations must be positive")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.server_capacity`` from the repository root (spawned children inherit sys.path)."""
    try:
        run(parse_args(argv))
    except RuntimeError as exc:
        sys.exit(f"benchmark failed: {exc}")  # on stderr, exit status 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
