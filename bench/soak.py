"""Soak: a thousand emulated calls through the whole server, with faults, checked against ground truth.

Issue 8 ("keep them found"): ``--calls`` (1,000) outbound calls over ``--minutes`` (10) of real time, each
``--call-minutes`` (3, on average) of *call* time, so the run covers hours of calls. The emulator runs them
time-scaled (``time_scale`` is derived so that about ``--concurrency`` (150) calls are live at once), and
mixes faults in at a steady rate: a share of ``POST /call`` answered 429 with ``Retry-After``, a share of
``GET /call/{id}`` answered 500 or 503, a share of the agent's ``end_call`` control messages answered 429, and
a share of the calls' listen sockets dropped mid-call without a close frame (the scenario knob
``drop_socket_at_s``). A share of the calls is ended by the agent (``end_call``) part-way through; the rest
play their script to the end.

Processes: the emulator runs in its own process (``running_emulator``); the server
(``vapi_mcp.face.create_server``) and the agent driving it through the SDK's in-memory ``mcp.Client`` run in
another, the one measured. The agent creates the calls at a steady pace with the ``create_call`` tool, reads
``vapi://calls`` once a second to learn which calls have ended and stopped listening, and then reads each
finished call's ``get_audio_summary`` and its ``listen.*`` events; it keeps nothing per call once the call
is reported to the parent. Every ``--interval`` seconds the server process reports its RSS, open file
descriptors and threads (from the OS, ``psutil``), its asyncio tasks, the calls it holds in memory, the
events logged so far, and the bytes of journals and recordings on disk; the parent adds the emulator's
request and fault counters and prints one row.

At the end every finished call's summary is compared with the emulator's ground truth
(``Emulator.ground_truth``) over the audio the server could have heard: listening starts at the first
status poll that sees the call in progress (so the first seconds of each call are not heard), and a dropped
socket loses the audio until the reconnect. The pipeline accounts for that hole with ``gap()`` in *wall*
seconds (right at Vapi's real time; the emulator's time scale makes the call lose ``time_scale`` times as
much), so the heard windows are reconstructed in call time from the end of the call (the socket streams to
the call's last frame), the scripted drop point and the summary's own ``duration_s`` and ``gaps_s``; the
start of a dropped call's first window comes from the wall clock (``listen.connected`` vs ``startedAt``).
Tolerances are the tests' (tests/face/test_listening.py): talk seconds per party within 20 %, turns within
one (a turn the gap splits counts twice; a sliver under 0.3 s at a window's edge may go unseen), overlap
and longest silence within 0.5 s.

Flatness: the server keeps up to ``max_ended_calls`` (200) ended calls in memory, so its RSS rightly grows
until that many have ended; from the first row at or after 20 % of the run in which that is so, to the end,
RSS may grow by at most ``RSS_GROWTH_LIMIT``. Once every call has ended and the server is idle again, threads
and tasks must be back near their baseline, file descriptors near the baseline plus one open journal per
ended call still held, and the calls held in memory within ``max_ended_calls``. A listen session that ends
``failed`` counts against its call even when the summary is right.

Everything is on 127.0.0.1, every count and wait is bounded, both processes stop by themselves, the soft
``RLIMIT_NOFILE`` is raised as needed, and the data directory (journals, recordings, the server log) is a
temporary directory removed at the end. Run from the repository root: ``python -m bench.soak`` (``--quick``
for a half-minute smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import math
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from bench.server_capacity import API_KEY, CUSTOMER, raise_fd_limit
from bench.server_capacity import _configure_logging as configure_logging  # pyright: ignore[reportPrivateUsage]
from bench.server_capacity import _cpu_self as cpu_self  # pyright: ignore[reportPrivateUsage]
from bench.server_capacity import _describe as describe  # pyright: ignore[reportPrivateUsage]
from bench.server_capacity import _progress as progress  # pyright: ignore[reportPrivateUsage]
from bench.server_capacity import _stop as stop_process  # pyright: ignore[reportPrivateUsage]
from bench.server_capacity import _tool as tool  # pyright: ignore[reportPrivateUsage]

if TYPE_CHECKING:
    from vapi_mcp.emulator.options import FaultRoute

__all__ = ["QUICK", "Options", "Plan", "heard_windows", "main", "parse_args", "plan", "run", "verify_call"]

PARTIES = ("customer", "assistant")
SPREAD = 1 / 3  # call lengths are uniform in mean * (1 ± SPREAD)
RING_S, ANSWER_S = 1.0, 1.0  # call seconds queued and ringing before in-progress (the emulator's knobs)
LISTEN_TYPES = ["listen.connected", "listen.reconnecting", "listen.closed", "call.status"]
DONE_LISTENING = frozenset({"closed", "failed", "off"})
# Ground-truth tolerances: those of tests/face/test_listening.py.
TALK_REL, TURNS_ABS, OVERLAP_ABS, SILENCE_ABS = 0.2, 1, 0.5, 0.5
TALK_FLOOR_S = 0.25  # absolute slack for a party that barely spoke in the heard windows
SOLID_TURN_S = 0.3  # a heard piece of a turn shorter than this may go unseen by the analyser
IDLE_TICK_S = 0.1  # the emulator renders a call nobody listens to every 0.1 real s; a new listener gets that
# Flatness limits.
RSS_GROWTH_LIMIT = 0.10  # RSS from the 20 % mark to the end
FDS_SLACK = 20  # idle fds within this of baseline + ended calls' journals (the REST client keeps 10 alive)
TASKS_SLACK = 5
THREADS_SLACK = 4
CREATE_RETRIES = 3  # create_call attempts after a tool error (an agent would try again)
FINISH_GRACE_S = 90.0  # a call not finished this long after its planned end is reported unfinished
LOG_INTERVAL_S = 1.0  # how often the agent reads vapi://calls


@dataclass(frozen=True)
class Options:
    calls: int = 1000
    minutes: float = 10.0  # real minutes over which the calls are created and played
    concurrency: int = 150  # calls live at once in the steady phase
    call_minutes: float = 3.0  # mean call length, in call time
    poll_interval: float = 2.0  # the server's status poll (its own default)
    interval: float = 30.0  # seconds between printed rows
    create_429: float = 0.10  # share of POST /call answered 429 with Retry-After
    get_5xx: float = 0.05  # share of GET /call/{id} answered 500 or 503 (alternately)
    control_429: float = 0.10  # share of control messages answered 429
    drops: float = 0.25  # share of calls whose listen socket drops mid-call
    end_early: float = 0.10  # share of calls the agent ends with end_call part-way through
    retry_after: float = 1.0  # seconds, in the 429s' Retry-After
    seed: int = 1
    data_dir: str | None = None


QUICK = Options(calls=20, minutes=0.5, concurrency=10, call_minutes=1.0, poll_interval=0.5, interval=3.0)


@dataclass(frozen=True)
class Plan:
    """The schedule derived from the options: every call's length and fate, and the time scale."""

    time_scale: float
    create_every_s: float  # real seconds between two creates
    mean_real_s: float  # a call's mean real length
    durations: tuple[float, ...]  # call seconds, per call
    end_at: tuple[float | None, ...]  # share of its real length after which the agent ends the call, or None
    drop_at_s: float | None  # call second at which listen sockets drop (calls that last longer than that)


def plan(opts: Options) -> Plan:
    """Little's law: ``concurrency`` calls live when each lasts T real seconds and one starts every T/concurrency s.

    The creates span the run but for the longest call's length, so the last call ends with the run.
    """
    rng = random.Random(opts.seed)
    total_s, mean_s = opts.minutes * 60, opts.call_minutes * 60
    mean_real = total_s / (opts.calls / opts.concurrency + 1 + SPREAD)
    durations = tuple(round(max(2.0, mean_s * rng.uniform(1 - SPREAD, 1 + SPREAD)), 1) for _ in range(opts.calls))
    end_at = tuple(rng.uniform(0.3, 0.8) if rng.random() < opts.end_early else None for _ in range(opts.calls))
    drop_at = None
    if opts.drops > 0:
        ordered = sorted(durations)
        drop_at = round(ordered[min(len(ordered) - 1, int((1 - opts.drops) * len(ordered)))] - 0.05, 2)
    return Plan(
        time_scale=mean_s / mean_real,
        create_every_s=mean_real * (opts.calls / opts.concurrency) / opts.calls,
        mean_real_s=mean_real,
        durations=durations,
        end_at=end_at,
        drop_at_s=drop_at,
    )


def _fd_need(opts: Options) -> int:
    # A listen socket, a journal and a recording per live call, journals of ended calls kept in memory, REST.
    return 4096 + 8 * opts.concurrency


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# ============================================================================================== emulator

# The emulator's request log names each route by method and path template.
ROUTES = {("POST", "/call"): "create", ("GET", "/call/{id}"): "get", ("POST", "/{token}/{id}/control"): "control"}


@dataclass
class _FaultInjector:
    """Keeps at most one scripted fault pending per route, and adds the next once the share is due.

    The emulator consumes a rule on the first request of its route; ``request_log`` says which requests came
    and which got a fault, so the served share follows the wanted one whatever the request rate.
    """

    shares: dict[str, float]
    retry_after: float
    requests: dict[str, int] = field(default_factory=dict[str, int])
    faults: dict[str, int] = field(default_factory=dict[str, int])
    added: dict[str, int] = field(default_factory=dict[str, int])
    cursor: int = 0

    def rule(self, route: str, n: int) -> Any:
        from vapi_mcp.emulator import FaultRule

        if route == "get":
            return FaultRule(route="get", status=503 if n % 2 else 500)
        return FaultRule(route=cast("FaultRoute", route), status=429, retry_after=self.retry_after)

    def tick(self, emu: Any) -> None:
        log = emu.request_log
        for record in log[self.cursor :]:
            route = ROUTES.get((record.method, record.path))
            if route is not None:
                self.requests[route] = self.requests.get(route, 0) + 1
                if record.status in (429, 500, 503):
                    self.faults[route] = self.faults.get(route, 0) + 1
        self.cursor = len(log)
        for route, share in self.shares.items():
            added, served = self.added.get(route, 0), self.faults.get(route, 0)
            if share > 0 and added <= served and added < 1 + share * self.requests.get(route, 0):
                emu.add_fault(self.rule(route, added))
                self.added[route] = added + 1


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _emulator_main(conn: Connection, opts: Options, the_plan: Plan, lifetime_s: float) -> None:
    raise_fd_limit(_fd_need(opts))
    asyncio.run(_emulate(conn, opts, the_plan, lifetime_s))


def _truth(emu: Any, call_id: str) -> dict[str, Any] | None:
    state = emu.calls.get(call_id)
    if state is None:
        return None
    truth = emu.ground_truth(call_id).model_dump()
    view = emu.view(call_id)
    truth.update(
        started_at=state.started_at.timestamp() if state.started_at else None,
        dropped=view["dropped"],
        ended_reason=view["endedReason"],
        status=view["status"],
    )
    return truth


async def _emulate(conn: Connection, opts: Options, the_plan: Plan, lifetime_s: float) -> None:
    from vapi_mcp.emulator import EmulatorOptions, running_emulator

    options = EmulatorOptions(
        api_key=API_KEY,
        scenario=f"long:{opts.call_minutes * 60:g}",
        time_scale=the_plan.time_scale,
        ring_s=RING_S,
        answer_s=ANSWER_S,
        drop_socket_at_s=the_plan.drop_at_s,
    )
    shares = {"create": opts.create_429, "get": opts.get_5xx, "control": opts.control_429}
    injector = _FaultInjector(shares, opts.retry_after)
    async with running_emulator(options) as emu:

        async def inject() -> None:
            while True:
                injector.tick(emu)
                await asyncio.sleep(0.05)

        injecting = asyncio.get_running_loop().create_task(inject())
        conn.send(emu.base_url)
        deadline = time.monotonic() + lifetime_s
        try:
            while time.monotonic() < deadline:
                if not await asyncio.to_thread(conn.poll, 1.0):
                    continue
                try:
                    message = conn.recv()
                except EOFError:
                    return
                if not isinstance(message, tuple):  # "stop", from the parent's stop_process
                    return
                command, arg = cast("tuple[str, Any]", message)
                if command == "stats":
                    dropped = sum(1 for call in emu.calls.values() if call.dropped)
                    cpu, now = time.process_time(), time.monotonic()  # the emulator's own CPU, every thread
                    stats = {"requests": injector.requests, "faults": injector.faults, "drops": dropped}
                    conn.send({**stats, "cpu_s": cpu, "t": now, "rss": _rss()})
                elif command == "truths":
                    conn.send({call_id: _truth(emu, call_id) for call_id in arg})
        finally:
            injecting.cancel()


# ============================================================================================== server + agent


@dataclass(frozen=True)
class ServerSpec:
    opts: Options
    plan: Plan
    base_url: str
    data_dir: str


@dataclass
class _Live:
    index: int
    created: float  # monotonic
    attempts: int
    end_result: str | None = None
    finalizing: bool = False


def _disk(root: Path) -> tuple[int, int]:
    """(journal bytes, recording bytes) under the data dir's calls/."""
    journals = recordings = 0
    with contextlib.suppress(FileNotFoundError):
        for folder in os.scandir(root / "calls"):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                for entry in os.scandir(folder.path):
                    size = entry.stat(follow_symlinks=False).st_size
                    if entry.name.endswith(".jsonl"):
                        journals += size
                    elif entry.name.endswith(".wav"):
                        recordings += size
    return journals, recordings


class _Agent:
    """Drives the server through its MCP face as an agent supervising a fleet would."""

    def __init__(self, spec: ServerSpec, client: Any, conn: Connection) -> None:
        self.spec, self.opts, self.plan = spec, spec.opts, spec.plan
        self.client, self.conn, self.root = client, conn, Path(spec.data_dir)
        self.live: dict[str, _Live] = {}
        self.created = self.done = self.create_failed = self.end_calls = 0
        self.events_done = self.events_live = self.in_memory = 0
        self.t0 = time.monotonic()
        self.creating = 1  # the pacer, then each create_call in flight
        self.max_lag = self.send_s = 0.0

    def send(self, message: tuple[str, Any]) -> None:
        """To the parent, which reads all the time (a blocked send would stall the event loop: it is timed)."""
        t = time.perf_counter()
        self.conn.send(message)
        self.send_s += time.perf_counter() - t

    async def lag_probe(self) -> None:
        """The event loop's worst lateness per row: a stalled loop delays every socket, poll and tool."""
        import anyio

        while self.creating or self.live:
            t = time.perf_counter()
            await anyio.sleep(0.05)
            self.max_lag = max(self.max_lag, time.perf_counter() - t - 0.05)

    # ---------------------------------------------------------------- creating and ending calls
    async def create_all(self, group: Any) -> None:
        import anyio

        for i in range(self.opts.calls):
            delay = self.t0 + i * self.plan.create_every_s - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
            self.creating += 1
            group.start_soon(self._create, i, group)
        self.creating -= 1

    async def _create(self, i: int, group: Any) -> None:
        try:
            await self._create_call(i, group)
        finally:
            self.creating -= 1

    async def _create_call(self, i: int, group: Any) -> None:
        import anyio

        scenario = f"long:{self.plan.durations[i]:g}"
        args = {"customer_number": CUSTOMER, "assistant": {"metadata": {"emulatorScenario": scenario}}, "listen": True}
        for attempt in range(1, CREATE_RETRIES + 2):
            try:
                info = await tool(self.client, "create_call", args)
            except RuntimeError as exc:
                progress(f"call {i}: create_call attempt {attempt} failed: {str(exc)[:200]}")
                await anyio.sleep(1.0)
                continue
            call_id = str(info["call_id"])
            self.live[call_id] = _Live(i, time.monotonic(), attempt)
            self.created += 1
            end_at = self.plan.end_at[i]
            if end_at is not None:
                group.start_soon(self._end_later, call_id, end_at * self._real_length(i))
            return
        self.create_failed += 1
        self.send(("call", {"index": i, "call_id": None, "error": "create_call failed"}))

    def _real_length(self, i: int) -> float:
        return (RING_S + ANSWER_S + self.plan.durations[i]) / self.plan.time_scale

    async def _end_later(self, call_id: str, delay: float) -> None:
        import anyio

        await anyio.sleep(delay)
        live = self.live.get(call_id)
        if live is None:
            return
        result = await self.client.call_tool("end_call", {"call_id": call_id})
        live.end_result = "error" if result.is_error else "sent"
        self.end_calls += 1

    # ---------------------------------------------------------------- watching the fleet
    async def watch(self, group: Any) -> None:
        """Read vapi://calls once a second; report each call once it has ended and stopped listening."""
        import anyio

        while self.creating or self.live:
            result = await self.client.read_resource("vapi://calls", cache_mode="bypass")
            calls: list[dict[str, Any]] = json.loads(result.contents[0].text)["calls"]
            self.in_memory = len(calls)
            events_live = 0
            now = time.monotonic()
            for info in calls:
                live = self.live.get(info["call_id"])
                if live is None:
                    continue
                events_live += int(info["event_count"])
                if live.finalizing:
                    continue
                over = info["status"] == "ended" and info["listen_state"] in DONE_LISTENING
                late = now > live.created + self._real_length(live.index) + FINISH_GRACE_S
                if over or late:
                    live.finalizing = True
                    group.start_soon(self._finalize, info["call_id"], info, not over)
            self.events_live = events_live
            await anyio.sleep(LOG_INTERVAL_S)

    async def _finalize(self, call_id: str, info: dict[str, Any], unfinished: bool) -> None:
        live = self.live[call_id]
        summary: dict[str, Any] = {}
        page: dict[str, Any] = {"events": []}
        try:
            summary = await tool(self.client, "get_audio_summary", {"call_id": call_id})
            page = await tool(self.client, "get_call_events", {"call_id": call_id, "types": LISTEN_TYPES, "limit": 200})
        except RuntimeError as exc:
            unfinished, info = True, {**info, "status": f"{info['status']}; reading it failed: {str(exc)[:200]}"}
        record = {
            "index": live.index,
            "call_id": call_id,
            "planned_s": self.plan.durations[live.index],
            "end_early": self.plan.end_at[live.index] is not None,
            "end_result": live.end_result,
            "attempts": live.attempts,
            "unfinished": unfinished,
            "status": info["status"],
            "listen_state": info["listen_state"],
            "event_count": info["event_count"],
            "summary": {k: v for k, v in summary.items() if k not in ("sparkline", "call_id")},
            "events": [(e["type"], e["at"], e["data"]) for e in page["events"]],
        }
        self.send(("call", record))
        self.events_done += int(info["event_count"])
        self.events_live -= int(info["event_count"])  # until the next read of vapi://calls
        self.done += 1
        del self.live[call_id]

    # ---------------------------------------------------------------- measuring the server process
    async def sample(self, stage: str) -> dict[str, Any]:
        import anyio
        import psutil

        me = psutil.Process()
        journals, recordings = await anyio.to_thread.run_sync(_disk, self.root)
        user, system = cpu_self()
        return {
            "stage": stage,
            "t": time.monotonic() - self.t0,
            "created": self.created,
            "done": self.done,
            "live": len(self.live),
            "create_failed": self.create_failed,
            "in_memory": self.in_memory,
            "rss": me.memory_info().rss,
            "fds": me.num_fds(),
            "threads": me.num_threads(),
            "tasks": len(asyncio.all_tasks()),
            "events": self.events_done + self.events_live,
            "journal_bytes": journals,
            "recording_bytes": recordings,
            "cpu_s": user + system,
            "lag_s": self.max_lag,
            "send_s": self.send_s,
        }

    async def sampler(self) -> None:
        import anyio

        n = 1
        while self.creating or self.live:
            await anyio.sleep(max(0.0, self.t0 + n * self.opts.interval - time.monotonic()))
            n += 1
            self.send(("sample", await self.sample("run")))
            self.max_lag = 0.0

    async def settle(self) -> None:
        """Wait (bounded) until no supervised call is live or listening: the server should then be idle."""
        import anyio

        with anyio.move_on_after(30):
            while True:
                result = await self.client.read_resource("vapi://calls", cache_mode="bypass")
                calls: list[dict[str, Any]] = json.loads(result.contents[0].text)["calls"]
                self.in_memory = len(calls)
                if all(c["status"] == "ended" and not c["listening"] for c in calls):
                    break
                await anyio.sleep(0.5)
        await anyio.sleep(min(2.0, self.opts.interval))


def _server_main(conn: Connection, opts: Options) -> None:
    raise_fd_limit(_fd_need(opts))
    for module in ("mcp", "vapi_mcp.face", "psutil", "anyio"):  # the heavy imports, while the emulator starts
        importlib.import_module(module)
    try:
        spec: ServerSpec = conn.recv()
    except EOFError:
        return
    configure_logging(Path(spec.data_dir) / "server.log")
    try:
        result = asyncio.run(_soak(spec, conn))
    except Exception as exc:  # reported to the parent, which fails the run
        result = {"error": describe(exc)}
    conn.send(("end", result))
    conn.close()


async def _soak(spec: ServerSpec, conn: Connection) -> dict[str, Any]:
    import gc

    import anyio
    from mcp import Client

    from vapi_mcp.face import create_server
    from vapi_mcp.settings import Settings

    settings = Settings.model_validate(
        {
            "api_key": API_KEY,
            "base_url": spec.base_url,
            "data_dir": Path(spec.data_dir),
            "poll_interval_s": spec.opts.poll_interval,
            "request_timeout_s": 30.0,
            "control_timeout_s": 10.0,
        }
    )
    async with Client(create_server(settings)) as client:
        agent = _Agent(spec, client, conn)
        gc.collect()
        agent.send(("sample", await agent.sample("baseline")))
        agent.t0 = time.monotonic()
        async with anyio.create_task_group() as group:
            group.start_soon(agent.create_all, group)
            group.start_soon(agent.watch, group)
            group.start_soon(agent.sampler)
            group.start_soon(agent.lag_probe)
        progress(f"all {agent.done:,} calls reported; letting the server go idle")
        await agent.settle()
        gc.collect()
        agent.send(("sample", await agent.sample("idle")))
        return {"end_calls": agent.end_calls, "max_ended_calls": settings.max_ended_calls}


# ============================================================================================== ground truth

Window = tuple[float, float]


def _clip(segments: Iterable[Window], windows: Sequence[Window]) -> list[Window]:
    out: list[Window] = []
    for start, end in segments:
        for a, b in windows:
            lo, hi = max(start, a), min(end, b)
            if hi > lo:
                out.append((lo, hi))
    return sorted(out)


def _union(pieces: Iterable[Window]) -> list[Window]:
    merged: list[Window] = []
    for start, end in sorted(pieces):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _overlap(a: list[Window], b: list[Window]) -> float:
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def heard_truth(truth: dict[str, Any], windows: Sequence[Window]) -> dict[str, Any]:
    """The ground truth restricted to ``windows`` (call seconds): what a perfect listener there would measure.

    A turn cut by a window edge counts in each window it reaches (the analyser closes a turn at a gap and
    opens another after it); silence is counted inside windows only (a gap is neither talk nor silence).
    """
    per_party: dict[str, Any] = {}
    speech: dict[str, list[Window]] = {}
    for party in PARTIES:
        turns = [(s, e) for p, s, e in truth["segments"] if p == party]
        pieces = _clip(turns, windows)
        speech[party] = _union(pieces)
        per_party[party] = {
            "talk_s": sum(e - s for s, e in speech[party]),
            "turns_min": sum(1 for s, e in pieces if e - s >= SOLID_TURN_S),
            "turns_max": len(pieces),
        }
    everyone = _union(speech["customer"] + speech["assistant"])
    silences = [0.0]
    for a, b in windows:
        cursor = a
        for s, e in everyone:
            if e <= a or s >= b:
                continue
            silences.append(max(0.0, s - cursor))
            cursor = max(cursor, e)
        silences.append(max(0.0, b - cursor))
    return {
        "parties": per_party,
        "overlap_s": _overlap(speech["customer"], speech["assistant"]),
        "longest_silence_s": max(silences),
    }


def _listen_times(events: list[Any]) -> tuple[list[float], list[float]]:
    """Wall-clock times of the listen.connected and listen.reconnecting events."""
    connected = [_epoch(at) for kind, at, _ in events if kind == "listen.connected"]
    lost = [_epoch(at) for kind, at, _ in events if kind == "listen.reconnecting"]
    return connected, lost


def heard_windows(record: dict[str, Any], truth: dict[str, Any], scale: float, drop_at: float | None) -> list[Window]:
    """The call-time windows whose audio reached the server, from the call's end backwards.

    The socket streams to the call's last frame, so the audio received ends at ``D`` (the truth's duration);
    the summary's ``duration_s`` minus ``gaps_s`` is the audio received. Without a reconnect that fixes the
    start. With reconnects, each hole starts at the scripted drop point (or, for an unscripted one, when the
    server saw the close), the holes after the first last as long as the wall clock says, the start comes from
    the wall clock (``listen.connected`` against ``startedAt``, less half the emulator's idle tick), and the
    first hole takes what remains.
    """
    summary, duration = record["summary"], float(truth["duration_s"])
    heard = float(summary["duration_s"]) - float(summary.get("gaps_s", 0.0))
    connected, lost = _listen_times(record["events"])
    if not lost and truth["dropped"] and drop_at is not None and drop_at < duration:
        duration = drop_at  # dropped as the call ended: the server saw it was over and did not reconnect
    if not lost or truth["started_at"] is None or not connected:
        return [(max(0.0, duration - heard), duration)]
    started = float(truth["started_at"])
    start = max(0.0, (connected[0] - started - IDLE_TICK_S / 2) * scale)
    holes: list[Window] = []
    for k, lost_at in enumerate(lost):
        at = drop_at if (k == 0 and truth["dropped"] and drop_at is not None) else (lost_at - started) * scale
        back = connected[k + 1] if k + 1 < len(connected) else lost_at
        holes.append((at, max(0.0, (back - lost_at) * scale)))
    first_at, _ = holes[0]
    rest = sum(length for _, length in holes[1:])
    holes[0] = (first_at, max(0.0, duration - start - heard - rest))
    windows: list[Window] = []
    cursor = start
    for at, length in holes:
        windows.append((cursor, max(cursor, at)))
        cursor = max(cursor, at + length)
    windows.append((cursor, duration))
    return [(a, b) for a, b in windows if b > a]


def _talk_ok(got: float, want: float) -> bool:
    return abs(got - want) <= max(TALK_REL * want, TALK_FLOOR_S)


def verify_call(record: dict[str, Any], truth: dict[str, Any] | None, scale: float, drop_at: float | None) -> list[str]:
    """Why this call disagrees with the ground truth of what it could hear ([] when it agrees).

    A listen session that ended otherwise than ``closed`` is a problem of its own; its summary is checked too.
    """
    if record.get("call_id") is None:
        return ["not created"]
    if truth is None:
        return ["unknown to the emulator"]
    if record["unfinished"]:
        return [f"unfinished (status {record['status']}, listen {record['listen_state']})"]
    problems: list[str] = []
    if record["listen_state"] != "closed":
        reasons = [str(data.get("reason")) for kind, _, data in record["events"] if kind == "listen.closed"]
        problems.append(f"listen {record['listen_state']} ({'; '.join(reasons) or 'no listen.closed event'})")
    if not record["summary"].get("parties"):
        return [*problems, "no audio summary"]
    want = heard_truth(truth, heard_windows(record, truth, scale, drop_at))
    return problems + _summary_problems(record["summary"], want, truth)


def _summary_problems(summary: dict[str, Any], want: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    heard = float(summary["duration_s"]) - float(summary.get("gaps_s", 0.0))
    if heard > float(truth["duration_s"]) + 0.1:
        problems.append(f"heard {heard:.2f} s of a {truth['duration_s']:.2f} s call")
    for party in PARTIES:
        got, exp = summary["parties"][party], want["parties"][party]
        if not _talk_ok(float(got["talk_s"]), exp["talk_s"]):
            problems.append(f"{party} talk {got['talk_s']:.2f} s vs {exp['talk_s']:.2f} s")
        if not exp["turns_min"] - TURNS_ABS <= int(got["turns"]) <= exp["turns_max"] + TURNS_ABS:
            problems.append(f"{party} turns {got['turns']} vs {exp['turns_min']}..{exp['turns_max']}")
    if abs(float(summary["overlap_s"]) - want["overlap_s"]) > OVERLAP_ABS:
        problems.append(f"overlap {summary['overlap_s']:.2f} s vs {want['overlap_s']:.2f} s")
    if abs(float(summary["longest_silence_s"]) - want["longest_silence_s"]) > SILENCE_ABS:
        problems.append(f"longest silence {summary['longest_silence_s']:.2f} s vs {want['longest_silence_s']:.2f} s")
    return problems


def _reconnects(record: dict[str, Any]) -> int:
    return sum(1 for kind, _, _ in record.get("events", []) if kind == "listen.reconnecting")


def _start_offsets(records: list[dict[str, Any]], truths: dict[str, Any], scale: float) -> dict[str, Any]:
    """For calls without a reconnect: the unheard start (real s), and the wall-clock estimate's error (call s)."""
    unheard: list[float] = []
    errors: list[float] = []
    for record in records:
        truth = truths.get(record.get("call_id") or "")
        if truth is None or record["unfinished"] or _reconnects(record) or truth["dropped"] or not truth["started_at"]:
            continue
        windows = heard_windows(record, truth, scale, None)
        start = windows[0][0] if windows else 0.0
        connected, _ = _listen_times(record["events"])
        if connected:
            unheard.append(start / scale)
            errors.append(start - (connected[0] - float(truth["started_at"]) - IDLE_TICK_S / 2) * scale)
    return {"unheard_real_s": _quantiles(unheard), "clock_error_call_s": _quantiles(errors)}


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)],
        "max": ordered[-1],
        "min": ordered[0],
    }


# ============================================================================================== orchestration


@dataclass
class _Run:
    opts: Options
    plan: Plan
    out: Callable[[str], None]
    samples: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    records: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    emulator_stats: dict[str, Any] = field(default_factory=dict[str, Any])
    server_result: dict[str, Any] = field(default_factory=dict[str, Any])


HEADER = (
    f"{'t s':>6} {'made':>5} {'done':>5} {'live':>4} {'mem':>4} {'rss MiB':>8} {'fds':>5} {'thr':>4} {'tasks':>6} "
    f"{'events':>9} {'jrnl MB':>8} {'rec MB':>8} {'cpu %':>6} {'emu %':>6} {'lag ms':>6} {'429 c/ctl':>9} "
    f"{'5xx get':>7} {'drops':>5}"
)


def _utilisation(now: dict[str, Any], before: dict[str, Any] | None) -> str:
    """CPU % of a process between two of its samples (``cpu_s`` and ``t``), or blank."""
    if before is None or now["t"] <= before["t"]:
        return ""
    return f"{100 * (now['cpu_s'] - before['cpu_s']) / (now['t'] - before['t']):.0f}"


def _row(sample: dict[str, Any], previous: dict[str, Any] | None) -> str:
    emu = sample["emulator"]
    cpu = _utilisation(sample, previous)
    emu_cpu = _utilisation(emu, previous["emulator"] if previous else None)
    faults = emu.get("faults", {})
    label = f"{sample['t']:.0f}" if sample["stage"] == "run" else sample["stage"]
    return (
        f"{label:>6} {sample['created']:>5} {sample['done']:>5} {sample['live']:>4} {sample['in_memory']:>4} "
        f"{sample['rss'] / 2**20:>8.1f} {sample['fds']:>5} {sample['threads']:>4} {sample['tasks']:>6} "
        f"{sample['events']:>9,} {sample['journal_bytes'] / 1e6:>8.1f} {sample['recording_bytes'] / 1e6:>8.1f} "
        f"{cpu:>6} {emu_cpu:>6} {1000 * sample['lag_s']:>6.0f} {faults.get('create', 0):>4}/"
        f"{faults.get('control', 0):<4} {faults.get('get', 0):>7} "
        f"{emu.get('drops', 0):>5}"
    )


def _ask(conn: Connection, command: str, arg: Any = None, timeout: float = 60.0) -> Any:
    conn.send((command, arg))
    if not conn.poll(timeout):
        raise RuntimeError(f"the emulator did not answer {command!r}")
    return conn.recv()


def _start_emulator(ctx: Any, opts: Options, the_plan: Plan, lifetime_s: float) -> tuple[Any, Connection, str]:
    parent, child = ctx.Pipe()
    args = (child, opts, the_plan, lifetime_s)
    proc = ctx.Process(target=_emulator_main, args=args, name="soak-emulator", daemon=True)
    proc.start()
    child.close()
    with contextlib.suppress(EOFError):
        if parent.poll(120):
            return proc, parent, str(parent.recv())
    stop_process(proc)
    raise RuntimeError("the emulator did not start")


def _follow(run: _Run, server: Connection, emulator: Connection, budget_s: float) -> None:
    """Print a row per sample as it arrives; collect the calls' records until the server says it is done."""
    deadline = time.monotonic() + budget_s
    previous: dict[str, Any] | None = None
    while True:
        if not server.poll(max(0.0, deadline - time.monotonic())):
            raise RuntimeError(f"the server process did not finish in {budget_s:.0f} s")
        try:
            kind, payload = server.recv()
        except EOFError:
            raise RuntimeError("the server process died") from None
        if kind == "call":
            run.records.append(payload)
        elif kind == "sample":
            run.emulator_stats = payload["emulator"] = _ask(emulator, "stats")
            run.samples.append(payload)
            run.out(_row(payload, previous if payload["stage"] != "baseline" else None))
            previous = payload
        else:
            run.server_result = payload
            return


def _measure(run: _Run) -> dict[str, dict[str, Any] | None]:
    opts, the_plan = run.opts, run.plan
    ctx = mp.get_context("spawn")
    budget = opts.minutes * 60 + FINISH_GRACE_S + 0.05 * opts.calls + 180
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_server_main, args=(child, opts), name="soak-server")
    server.start()  # it imports while the emulator starts
    child.close()
    truths: dict[str, dict[str, Any] | None] = {}
    try:
        emulator, emu_conn, base_url = _start_emulator(ctx, opts, the_plan, budget + 120)
        try:
            with tempfile.TemporaryDirectory(prefix="vapi-mcp-soak-", dir=opts.data_dir) as data_dir:
                parent.send(ServerSpec(opts, the_plan, base_url, data_dir))
                run.out(HEADER)
                _follow(run, parent, emu_conn, budget)
                stop_process(server)  # its journals and recordings are closed before the directory goes
                ids = [r["call_id"] for r in run.records if r.get("call_id")]
                for i in range(0, len(ids), 100):
                    truths.update(_ask(emu_conn, "truths", ids[i : i + 100]))
                run.emulator_stats = _ask(emu_conn, "stats")
        finally:
            stop_process(emulator, emu_conn)
    finally:
        parent.close()
        stop_process(server)
    if "error" in run.server_result:
        raise RuntimeError(f"the server process failed: {run.server_result['error']}")
    return truths


def _steady_mark(samples: list[dict[str, Any]], total_s: float, calls: int, max_ended_calls: int) -> dict[str, Any]:
    """The first row at or after 20 % of the run in which the server holds its full share of ended calls.

    The server keeps up to ``max_ended_calls`` ended calls in memory (then forgets the oldest), so its RSS
    rightly grows until that many calls have ended: growth after that point is what a leak looks like.
    """
    running = [s for s in samples if s["stage"] == "run"] or [s for s in samples if s["stage"] == "idle"]
    later = [s for s in running if s["t"] >= 0.2 * total_s] or running[-1:]
    full = [s for s in later if s["done"] >= max_ended_calls or s["created"] >= calls]
    return (full or later)[0]


def flatness(samples: list[dict[str, Any]], total_s: float, calls: int, max_ended_calls: int) -> dict[str, Any]:
    """The verdicts: RSS from the steady mark on, and fds/threads/tasks/calls once idle against the baseline."""
    base = next(s for s in samples if s["stage"] == "baseline")
    idle = next(s for s in samples if s["stage"] == "idle")
    mark = _steady_mark(samples, total_s, calls, max_ended_calls)
    later = [s for s in samples if s["t"] >= mark["t"] and s["stage"] != "baseline"]
    rss_peak = max(s["rss"] for s in later)
    growth = rss_peak / mark["rss"] - 1
    last_run = max((s for s in later if s["stage"] == "run"), key=lambda s: s["t"], default=mark)
    calls_since = last_run["done"] - mark["done"]
    checks = {
        "rss": growth <= RSS_GROWTH_LIMIT,
        # An ended call held in memory keeps its journal open (until max_ended_calls pushes it out).
        "fds": idle["fds"] <= base["fds"] + idle["in_memory"] + FDS_SLACK,
        "threads": idle["threads"] <= base["threads"] + THREADS_SLACK,
        "tasks": idle["tasks"] <= base["tasks"] + TASKS_SLACK,
        "calls_in_memory": idle["in_memory"] <= max_ended_calls,
    }
    return {
        "flat": all(checks.values()),
        "checks": checks,
        "rss_mark_mib": mark["rss"] / 2**20,
        "rss_mark_t": mark["t"],
        "rss_mark_done": mark["done"],
        "rss_peak_after_mark_mib": rss_peak / 2**20,
        "rss_growth": growth,
        "rss_per_call_after_mark_kib": (last_run["rss"] - mark["rss"]) / calls_since / 1024 if calls_since else 0.0,
        "rss_idle_mib": idle["rss"] / 2**20,
        "baseline": {k: base[k] for k in ("rss", "fds", "threads", "tasks")},
        "idle": {k: idle[k] for k in ("rss", "fds", "threads", "tasks", "in_memory")},
    }


def _verify_all(run: _Run, truths: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    scale, drop_at = run.plan.time_scale, run.plan.drop_at_s
    failures: list[tuple[int, str | None, list[str]]] = []
    passed = 0
    for record in sorted(run.records, key=lambda r: r["index"]):
        problems = verify_call(record, truths.get(record.get("call_id") or ""), scale, drop_at)
        if problems:
            failures.append((record["index"], record.get("call_id"), problems))
        else:
            passed += 1
    dropped = [r for r in run.records if (truths.get(r.get("call_id") or "") or {}).get("dropped")]
    dropped_ids = {r["index"] for r in dropped}
    reconnected = [r for r in run.records if _reconnects(r)]
    unscripted = [r for r in reconnected if r["index"] not in dropped_ids or _reconnects(r) > 1]
    call_s = sum(float((truths.get(r.get("call_id") or "") or {}).get("duration_s", 0.0)) for r in run.records)
    return {
        "checked": len(run.records),
        "passed": passed,
        "failed": len(failures),
        "failures": failures,
        "missing": run.opts.calls - len(run.records),
        "dropped": len(dropped),
        "dropped_passed": len(dropped_ids - {index for index, _, _ in failures}),
        "reconnected": len(reconnected),
        "unscripted_reconnects": len(unscripted),
        "ended_by_agent": sum(1 for r in run.records if r.get("end_result") == "sent"),
        "create_retried": sum(1 for r in run.records if r.get("attempts", 1) > 1),
        "call_hours": call_s / 3600,
        "offsets": _start_offsets(run.records, truths, scale),
    }


def _report(run: _Run, res: dict[str, Any]) -> None:
    out, flat, gt = run.out, res["flatness"], res["ground_truth"]
    emu = run.emulator_stats
    req, faults = emu.get("requests", {}), emu.get("faults", {})
    out(
        f"faults served: create 429 {faults.get('create', 0)}/{req.get('create', 0)}, get 5xx "
        f"{faults.get('get', 0)}/{req.get('get', 0)}, control 429 {faults.get('control', 0)}/"
        f"{req.get('control', 0)}; listen sockets dropped {emu.get('drops', 0)}; creates retried by the agent "
        f"{gt['create_retried']}; calls ended by the agent {gt['ended_by_agent']}"
    )
    b, i = flat["baseline"], flat["idle"]
    out(
        f"flatness: {'FLAT' if flat['flat'] else 'NOT FLAT'} - rss {flat['rss_mark_mib']:.1f} MiB at "
        f"{flat['rss_mark_t']:.0f} s ({flat['rss_mark_done']} calls done), peak after "
        f"{flat['rss_peak_after_mark_mib']:.1f} MiB ({flat['rss_growth']:+.1%}, limit {RSS_GROWTH_LIMIT:+.0%}; "
        f"{flat['rss_per_call_after_mark_kib']:+.1f} KiB per call done since), idle {flat['rss_idle_mib']:.1f} MiB; "
        f"idle vs baseline: fds {i['fds']} vs {b['fds']} + {i['in_memory']} journals, threads {i['threads']} vs "
        f"{b['threads']}, tasks {i['tasks']} vs {b['tasks']}, calls in memory {i['in_memory']} "
        f"(cap {res['max_ended_calls']}); "
        + ", ".join(f"{k} {'ok' if v else 'FAIL'}" for k, v in flat["checks"].items())
    )
    offsets = gt["offsets"]
    unheard, error = offsets.get("unheard_real_s", {}), offsets.get("clock_error_call_s", {})
    out(
        f"ground truth: {gt['passed']}/{gt['checked']} calls pass ({gt['failed']} fail, {gt['missing']} missing), "
        f"{gt['call_hours']:.1f} h of calls; dropped sockets {gt['dropped']} ({gt['dropped_passed']} pass), "
        f"calls that reconnected {gt['reconnected']}, unscripted reconnects {gt['unscripted_reconnects']}"
    )
    if unheard:
        out(
            f"  unheard start of each call (listening begins at the poll that sees in-progress): median "
            f"{unheard['median']:.2f} s, p95 {unheard['p95']:.2f} s, max {unheard['max']:.2f} s real; the wall-clock "
            f"estimate of it is off by {error['median']:+.2f} s median ({error['min']:+.2f}..{error['max']:+.2f}) "
            "call time"
        )
    for index, call_id, problems in gt["failures"][:20]:
        out(f"  FAIL call {index} {call_id}: {'; '.join(problems)}")
    if len(gt["failures"]) > 20:
        out(f"  ... and {len(gt['failures']) - 20} more")


def run(opts: Options, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Soak once; print the rows, the verdicts and a final ``RESULT {...}`` JSON line; return the RESULT object."""
    the_plan = plan(opts)
    soft, hard = raise_fd_limit(_fd_need(opts))
    load = os.getloadavg()
    out(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; RLIMIT_NOFILE soft {soft:,} (hard {hard:,})"
    )
    out(
        f"soak: {opts.calls:,} calls over {opts.minutes:g} min, ~{opts.concurrency} live; calls of "
        f"{opts.call_minutes * 60 * (1 - SPREAD):.0f}-{opts.call_minutes * 60 * (1 + SPREAD):.0f} s of call time at "
        f"time_scale {the_plan.time_scale:.2f} ({the_plan.mean_real_s:.0f} s real each, one created every "
        f"{the_plan.create_every_s:.2f} s); faults: {opts.create_429:.0%} of creates 429, {opts.get_5xx:.0%} of GETs "
        f"5xx, {opts.control_429:.0%} of control 429, sockets drop at call second {the_plan.drop_at_s} "
        f"(~{opts.drops:.0%} of calls), {opts.end_early:.0%} ended by the agent; status poll {opts.poll_interval:g} s"
    )
    state = _Run(opts, the_plan, out)
    truths = _measure(state)
    max_ended = int(state.server_result.get("max_ended_calls", 200))
    res: dict[str, Any] = {
        "calls": opts.calls,
        "minutes": opts.minutes,
        "concurrency": opts.concurrency,
        "time_scale": the_plan.time_scale,
        "drop_at_s": the_plan.drop_at_s,
        "max_ended_calls": max_ended,
        "flatness": flatness(state.samples, opts.minutes * 60, opts.calls, max_ended),
        "ground_truth": _verify_all(state, truths),
        "emulator": state.emulator_stats,
        "samples": state.samples,
        "load_before": [round(x, 2) for x in load],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    _report(state, res)
    out(f"load average after: {' '.join(f'{x:.2f}' for x in res['load_after'])}")
    out("RESULT " + json.dumps(_rounded(res), sort_keys=True))
    return res


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in cast("dict[Any, Any]", value).items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in cast("Sequence[Any]", value)]
    return value


# ============================================================================================== CLI


FLAGS: tuple[tuple[str, type, str], ...] = (
    ("calls", int, "calls in all"),
    ("minutes", float, "real minutes the calls are spread over"),
    ("concurrency", int, "calls live at once in the steady phase"),
    ("call_minutes", float, "mean call length in call time"),
    ("poll_interval", float, "the server's status poll interval (its own default)"),
    ("interval", float, "seconds between printed rows"),
    ("create_429", float, "share of POST /call answered 429 with Retry-After"),
    ("get_5xx", float, "share of GET /call/{id} answered 500 or 503"),
    ("control_429", float, "share of control messages answered 429"),
    ("drops", float, "share of calls whose listen socket drops mid-call"),
    ("end_early", float, "share of calls the agent ends part-way with end_call"),
    ("seed", int, "seed of the call lengths and fates"),
)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=(__doc__ or "").split("\n\n")[0])
    defaults = Options()
    for name, kind, text in FLAGS:
        p.add_argument("--" + name.replace("_", "-"), type=kind, help=f"{text} (default {getattr(defaults, name)})")
    p.add_argument("--data-dir", help="where the journals and recordings go (a temp dir inside, removed)")
    p.add_argument("--quick", action="store_true", help="20 calls over 30 s (a smoke run)")
    args = p.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if k != "quick" and v is not None}
    opts = Options(**{**asdict(QUICK if args.quick else defaults), **given})
    if min(opts.calls, opts.concurrency) < 1:
        p.error("counts must be at least 1")
    if min(opts.minutes, opts.call_minutes, opts.poll_interval, opts.interval) <= 0:
        p.error("durations must be positive")
    shares = (opts.create_429, opts.get_5xx, opts.control_429, opts.drops, opts.end_early)
    if not all(0 <= s <= 1 for s in shares):
        p.error("shares must be between 0 and 1")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.soak`` from the repository root (spawned children inherit sys.path)."""
    try:
        res = run(parse_args(argv))
    except RuntimeError as exc:
        sys.exit(f"soak failed: {exc}")  # on stderr, exit status 1
    ok = res["flatness"]["flat"] and res["ground_truth"]["failed"] == 0 and res["ground_truth"]["missing"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
