"""Listen-ingest benchmark: our full listen pipeline against a bare ``websockets`` receive loop.

One run, one generator, three measurements (DESIGN §10):

1. **Saturated** (capacity): N time-scaled streams, the generator sending as fast as the receiver takes
   them. Run once per receiver — ``bare`` (``async for msg in ws``, frames discarded), ``direct`` (the
   receive path our session uses, :class:`~vapi_mcp.listen.direct.DirectConnection`: the usual data frames
   read by it and every message handed over from the protocol callback instead of queued for ``recv()``,
   frames discarded) and ``pipeline`` (our
   :class:`~vapi_mcp.listen.session.ListenSession` feeding a real :class:`~vapi_mcp.listen.pipeline.AudioPipeline`:
   analysis, journaled event log, WAV recording) — and compare their CPU time per frame. The target is
   pipeline / bare; pipeline / direct is what our processing costs on top of our own receive path. All the
   receivers are saturated, so like is compared with like.
2. **Real time**: M streams paced at one 20 ms frame per message, once per receiver; the receiver's CPU
   utilisation gives the number of real-time calls one core carries.
3. **Memory**: a few pipeline sessions of a long (time-scaled) call; the receiver's RSS per session at 1/3
   and at the end of the call, to show memory is flat with call length.

Why the processes are laid out this way: the generator (a plain ``websockets`` server on 127.0.0.1
streaming precomputed :class:`~vapi_mcp.emulator.audio.CallAudio` frames of
:func:`~vapi_mcp.emulator.scenario.long_call`, cycled, plus a Vapi-style final transcript text frame every
2 s of audio) runs in its own process, and each receiver run in a fresh process, so the receiver's CPU time
can be taken from the OS (``getrusage``, itself and its children) after its work ends, not sampled. Every
audio message is one 20 ms frame (1280 bytes, 16 kHz stereo s16le) sent with its own ``send``: batching
frames into fewer writes would make every receiver look cheaper.

Run from the repository root: ``python -m bench.listen_ingest`` (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import resource
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Options", "main", "parse_args", "run"]

FRAMES_PER_S = 50  # one message = one 20 ms frame
FRAME_S = 1 / FRAMES_PER_S
FRAME_BYTES = 1280  # 320 sample frames x 2 channels x 2 bytes
TEXT_EVERY = 100  # a transcript text frame after every 100 audio frames (2 s of audio)
LOOP_S = 60.0  # audio rendered once by the generator, then cycled
# Exactly what ListenSession passes to websockets' connect(); the bare receiver uses the same.
CONNECT_KW: dict[str, Any] = {"max_size": 2**21, "ping_interval": 20, "ping_timeout": 20, "close_timeout": 2}
RECEIVER_TIMEOUT_S = 900.0  # a receiver run that takes longer than this is killed: the bench always stops
SATURATED = 0.9  # a receiver busy less than this share of its run was not saturated
MEMORY_MARKS = (1 / 3, 2 / 3, 0.97)
SATURATED_MODES = (
    "bare",
    "direct",
    "pipeline",
    "alerts",
)  # fractions of the long call at which the receiver's RSS is taken


def _cpu_seconds() -> tuple[float, float]:
    """(user, system) CPU seconds of this process and its waited-for children, from the OS."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + kids.ru_utime, me.ru_stime + kids.ru_stime


def expected_messages(audio_frames: int) -> int:
    """Messages one stream of ``audio_frames`` carries: the audio plus one transcript per 100 frames."""
    return audio_frames + audio_frames // TEXT_EVERY


# ============================================================================================== generator


def _render_loop(loop_s: float, seed: int) -> tuple[list[bytes], list[str]]:
    """``loop_s`` of a long call as 20 ms messages, and its utterances as Vapi final-transcript frames."""
    from vapi_mcp.emulator.audio import CallAudio
    from vapi_mcp.emulator.scenario import long_call

    scenario = long_call(loop_s, seed=seed)
    audio = CallAudio(scenario)
    frames = [audio.render(audio.frame_samples) for _ in range(round(loop_s * FRAMES_PER_S))]
    if {len(f) for f in frames} != {FRAME_BYTES}:
        raise RuntimeError("the emulator's frames are not 1280 bytes: the benchmark assumes 16 kHz stereo 20 ms")
    role = {"customer": "user", "assistant": "assistant"}
    texts = [
        json.dumps({"type": "transcript", "role": role[u.party], "transcriptType": "final", "transcript": u.text})
        for u in scenario.utterances
    ]
    return frames, texts


def _binary_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked, unfragmented RFC 6455 binary frame (what a server sends)."""
    n = len(payload)
    if n < 126:
        return bytes((0x82, n)) + payload
    if n < 1 << 16:
        return bytes((0x82, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x82, 127)) + n.to_bytes(8, "big") + payload


def _stream_handler(frames: list[bytes], texts: list[str]) -> Callable[[Any], Any]:
    """The generator's connection handler; the query string says what to send.

    ``n`` audio frames starting at loop index ``start``; ``pace=1`` sends frame k at ``phase + k * 20 ms``
    after the connection opened (real time), ``pace=0`` as fast as the receiver takes them.

    The generator must outrun the bare receiver, or the baseline is not saturated: ``websockets``' own
    ``send`` costs about as much per message as its receive loop, so audio goes out as pre-encoded frames,
    still one ``transport.write`` per message (never batched) and still under websockets' flow control
    (``drain``). Text frames, one per 2 s, use the ordinary ``send``, and so does everything when
    permessage-deflate was negotiated (``--deflate``), since then the payload must be compressed.
    """
    from websockets.exceptions import ConnectionClosed

    wire = [_binary_frame(f) for f in frames]

    async def handler(ws: Any) -> None:
        query = parse_qs(urlsplit(ws.request.path).query)
        n, start = int(query["n"][0]), int(query["start"][0])
        paced, phase = query.get("pace", ["0"])[0] == "1", float(query.get("phase", ["0"])[0])
        loop = asyncio.get_running_loop()
        write, drain = ws.transport.write, ws.drain
        compressed = bool(ws.protocol.extensions)
        t0 = loop.time() + phase
        nf, nt = len(wire), len(texts)
        try:
            for k in range(n):
                if paced:
                    delay = t0 + k * FRAME_S - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if compressed:  # --deflate: websockets must compress every message itself
                    await ws.send(frames[(start + k) % nf])
                elif ws.transport.is_closing():
                    return
                else:
                    write(wire[(start + k) % nf])
                    await drain()
                if (k + 1) % TEXT_EVERY == 0:
                    await ws.send(texts[(start + k) // TEXT_EVERY % nt])
            await ws.close(1000, "call ended")
        except ConnectionClosed:
            pass

    return handler


def _generator_main(conn: Connection, loop_s: float, deflate: bool, lifetime_s: float) -> None:
    asyncio.run(_generate(conn, loop_s, deflate, lifetime_s))


async def _generate(conn: Connection, loop_s: float, deflate: bool, lifetime_s: float) -> None:
    from websockets.asyncio.server import serve

    frames, texts = _render_loop(loop_s, seed=7)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and accepted
    # sockets inherit the listening socket's proto (0 by default).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_request() -> None:  # the parent asks for our CPU time, or tells us to stop
        try:
            request = conn.recv()
        except (EOFError, OSError):
            request = "stop"
        if request == "cpu":
            conn.send(sum(_cpu_seconds()))
        else:
            loop.remove_reader(conn.fileno())
            stop.set()

    async with serve(
        _stream_handler(frames, texts),
        sock=sock,
        backlog=1024,
        compression="deflate" if deflate else None,
        max_size=2**16,
    ):
        loop.add_reader(conn.fileno(), on_request)
        conn.send(sock.getsockname()[1])
        try:
            await asyncio.wait_for(stop.wait(), lifetime_s)
        except TimeoutError:
            pass


# ============================================================================================== receivers


@dataclass(frozen=True)
class ReceiverSpec:
    mode: str  # "bare" | "direct" | "pipeline"
    url: str
    streams: int
    audio_frames: int  # per stream
    paced: bool
    data_dir: str = ""
    rss_marks: tuple[float, ...] = ()

    def stream_url(self, i: int) -> str:
        start = i * 1237 % round(LOOP_S * FRAMES_PER_S)  # streams read the loop at different places
        phase = (i % self.streams) / self.streams * FRAME_S if self.paced else 0.0
        return f"{self.url}/stream?n={self.audio_frames}&start={start}&pace={int(self.paced)}&phase={phase:.6f}"


def _receiver_main(conn: Connection, spec: ReceiverSpec) -> None:
    try:
        result = asyncio.run(_receive(spec))
    except Exception as exc:  # reported to the parent, which fails the run
        result = {"error": f"{type(exc).__name__}: {exc}"}
    conn.send(result)
    conn.close()


async def _bare(url: str) -> tuple[int, bool]:
    """The baseline: websockets' receive loop, every frame discarded (counted, to check the run)."""
    from websockets.asyncio.client import connect

    count = 0
    async with connect(url, **CONNECT_KW) as ws:
        async for _ in ws:
            count += 1
    return count, ws.close_code == 1000


async def _direct(url: str) -> tuple[int, bool]:
    """Our session's receive path with nothing behind it: every message counted, then discarded."""
    from websockets.asyncio.client import connect

    from vapi_mcp.listen.direct import DirectConnection

    count = 0

    def discard(message: bytes) -> None:
        nonlocal count
        count += 1

    async with connect(url, create_connection=DirectConnection, **CONNECT_KW) as ws:
        assert isinstance(ws, DirectConnection)
        ws.attach(audio=discard, text=discard)
        await ws.wait_closed()
    return count, ws.close_code == 1000


class _NullSink:
    """Stands in for the server's change sink (a set insert and an event set): no work."""

    def call_changed(self, call_id: str, aspects: tuple[str, ...]) -> None:
        pass


async def _pipeline(
    url: str, call_id: str, data_dir: Path, wrap: Callable[[Any], None] | None, rules: bool = False
) -> tuple[int, bool]:
    """One session wired exactly as CallSupervisor wires it (journal and recording through the store); with
    ``rules``, the alert rules run over it as the supervisor runs them (every default rule on)."""
    from vapi_mcp.listen.events import EventLog
    from vapi_mcp.listen.pipeline import AudioPipeline
    from vapi_mcp.listen.session import ListenSession
    from vapi_mcp.store.local import LocalStore

    store, sink = LocalStore(data_dir), _NullSink()
    event_log = EventLog(call_id, journal=store.open_journal(call_id))
    event_log.add_listener(lambda event: sink.call_changed(call_id, ("events",)))
    event_log.append("call.status", {"status": "in-progress", "endedReason": None})
    pipeline = AudioPipeline(
        call_id,
        event_log,
        recording_path=store.recording_path(call_id),
        silence_threshold_s=2.0,
        on_audio=lambda: sink.call_changed(call_id, ("audio-summary", "recording")),
    )
    if rules:
        _with_rules(event_log, pipeline)
    if wrap is not None:
        wrap(pipeline)

    async def call_is_over() -> bool:  # asked only after an abnormal close: the generator never resumes a call
        return True

    session = ListenSession(
        call_id,
        url,
        pipeline,
        event_log,
        call_is_over=call_is_over,
        on_state=lambda state: sink.call_changed(call_id, ("call",)),
    )
    try:
        await session.run()
    finally:
        event_log.close()
    return pipeline.frames, session.closed_reason == "call ended"


def _with_rules(event_log: Any, pipeline: Any) -> None:
    """The alert engine fed as FleetAlerts feeds it: every event through the log's listener, a tick per block."""
    from vapi_mcp.supervisor.alerts.config import default_rules, merge_rules
    from vapi_mcp.supervisor.alerts.engine import AlertEngine

    engine = AlertEngine(merge_rules(default_rules(), {"keywords": {"phrases": ["cancel my account", "manager"]}}))

    def deliver(alerts: list[Any]) -> None:
        for alert in alerts:
            event_log.append("alert", alert.data())

    event_log.add_listener(lambda event: deliver(engine.on_event(event)) if event.type != "alert" else None)
    audio_done = pipeline.on_audio

    def on_audio() -> None:
        audio_done()
        analyzer = pipeline.analyzer
        deliver(engine.on_audio(analyzer.duration_s, analyzer.silence_since_s, pipeline.summary))

    pipeline.on_audio = on_audio


class _RssMarks:
    """Takes the process RSS when the sessions together have received each fraction of the long call.

    Counted in ``feed`` / ``feed_text`` themselves (wrappers on each pipeline, used only by the memory part), so a
    mark is taken while the streams are still flowing, whatever the speed: a sampler could miss the end.
    """

    def __init__(self, total: int, marks: Sequence[float], out: dict[str, float]) -> None:
        import psutil

        self._proc = psutil.Process()
        self._marks = sorted(marks)
        self._total = total
        self._out = out
        self._count = 0
        self._next = self._marks[0] * total if self._marks else float("inf")

    def wrap(self, pipeline: Any) -> None:
        # ListenSession calls self.pipeline.feed / feed_text: the instance attributes win.
        for name in ("feed", "feed_text"):
            setattr(pipeline, name, self._counting(getattr(pipeline, name)))

    def _counting(self, inner: Callable[[Any], None]) -> Callable[[Any], None]:
        def feed(message: Any) -> None:
            inner(message)
            self._count += 1
            if self._count >= self._next:
                self._take()

        return feed

    def _take(self) -> None:
        while self._marks and self._count >= self._marks[0] * self._total:
            self._out[f"{self._marks.pop(0):.3f}"] = self._proc.memory_info().rss
        self._next = self._marks[0] * self._total if self._marks else float("inf")


async def _receive(spec: ReceiverSpec) -> dict[str, Any]:
    import gc

    import psutil
    from websockets.asyncio.client import connect  # noqa: F401

    # Import everything the receiver uses before the clock starts: imports are not ingest.
    import vapi_mcp.listen.pipeline
    import vapi_mcp.listen.session
    import vapi_mcp.store.local
    import vapi_mcp.supervisor.alerts.engine  # noqa: F401

    # Loading numpy starts OpenBLAS's worker threads, which spin for a fraction of a second (about 0.2 s of a
    # second core on the 2-core VM): a cost of the import, not of ingest.
    await asyncio.sleep(0.5)
    gc.collect()
    rss: dict[str, float] = {"baseline": psutil.Process().memory_info().rss}
    marks = _RssMarks(spec.streams * expected_messages(spec.audio_frames), spec.rss_marks, rss)
    if spec.mode == "bare":
        jobs = [_bare(spec.stream_url(i)) for i in range(spec.streams)]
    elif spec.mode == "direct":
        jobs = [_direct(spec.stream_url(i)) for i in range(spec.streams)]
    else:
        root, wrap = Path(spec.data_dir), marks.wrap if spec.rss_marks else None
        rules = spec.mode == "alerts"
        jobs = [_pipeline(spec.stream_url(i), f"bench-{i:05d}", root, wrap, rules) for i in range(spec.streams)]
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    results = await asyncio.gather(*jobs)
    wall = time.perf_counter() - t0
    user, system = (b - a for a, b in zip(cpu0, _cpu_seconds(), strict=True))
    return {
        "mode": spec.mode,
        "streams": spec.streams,
        "messages": sum(n for n, _ in results),
        "expected": spec.streams * expected_messages(spec.audio_frames),
        "clean_closes": sum(1 for _, ok in results if ok),
        "wall_s": wall,
        "cpu_user_s": user,
        "cpu_sys_s": system,
        "cpu_s": user + system,
        "rss": rss,
    }


# ============================================================================================== orchestration


@dataclass(frozen=True)
class Options:
    streams: int = 200
    seconds: float = 60.0
    realtime_streams: int = 500
    realtime_seconds: float = 20.0
    long_sessions: int = 20
    long_minutes: float = 30.0
    repeat: int = 2
    deflate: bool = False
    data_dir: str | None = None


QUICK = Options(
    streams=4, seconds=2.0, realtime_streams=4, realtime_seconds=1.0, long_sessions=2, long_minutes=0.1, repeat=1
)


class _Bench:
    """Owns the generator process; runs one receiver process at a time against it."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.ctx = mp.get_context("spawn")
        self.gen_conn, child = self.ctx.Pipe()
        lifetime = 4 * RECEIVER_TIMEOUT_S
        self.gen = self.ctx.Process(
            target=_generator_main, args=(child, LOOP_S, opts.deflate, lifetime), name="bench-generator", daemon=True
        )
        self.gen.start()
        child.close()
        if not self.gen_conn.poll(120):
            raise RuntimeError("the generator did not start")
        self.url = f"ws://127.0.0.1:{self.gen_conn.recv()}"

    def close(self) -> None:
        try:
            self.gen_conn.send("stop")
        except OSError:
            pass
        self.gen.join(10)
        if self.gen.is_alive():
            self.gen.terminate()
            self.gen.join(5)

    def _generator_cpu(self) -> float:
        self.gen_conn.send("cpu")
        return float(self.gen_conn.recv())

    def receive(self, mode: str, streams: int, seconds: float, *, paced: bool, marks: tuple[float, ...] = ()) -> dict:
        audio_frames = max(1, round(seconds * FRAMES_PER_S))
        with tempfile.TemporaryDirectory(prefix="vapi-mcp-bench-", dir=self.opts.data_dir) as data_dir:
            spec = ReceiverSpec(mode, self.url, streams, audio_frames, paced, data_dir, marks)
            parent, child = self.ctx.Pipe()
            proc = self.ctx.Process(target=_receiver_main, args=(child, spec), name=f"bench-{mode}")
            gen_cpu0 = self._generator_cpu()
            proc.start()
            child.close()
            try:
                if not parent.poll(RECEIVER_TIMEOUT_S):
                    raise RuntimeError(f"the {mode} receiver did not finish in {RECEIVER_TIMEOUT_S:.0f} s")
                result: dict[str, Any] = parent.recv()
            finally:
                proc.join(30)
                if proc.is_alive():
                    proc.terminate()
                    proc.join(5)
        # The pipeline wrote its recordings (up to ~1 GB) and they were just deleted: let the kernel write back
        # and discard now, not while the next receiver is being measured on this machine's few cores.
        os.sync()
        if "error" in result:
            raise RuntimeError(f"the {mode} receiver failed: {result['error']}")
        if result["messages"] != result["expected"] or result["clean_closes"] != streams:
            raise RuntimeError(
                f"the {mode} receiver got {result['messages']} of {result['expected']} messages, "
                f"{result['clean_closes']} of {streams} streams closed with 1000"
            )
        result["generator_cpu_s"] = self._generator_cpu() - gen_cpu0
        result["audio_s"] = streams * audio_frames / FRAMES_PER_S
        return _derive(result)


def _derive(r: dict[str, Any]) -> dict[str, Any]:
    r["frames_per_s"] = r["messages"] / r["wall_s"]
    r["cpu_us_per_frame"] = r["cpu_s"] / r["messages"] * 1e6
    r["utilisation"] = r["cpu_s"] / r["wall_s"]
    r["generator_utilisation"] = r["generator_cpu_s"] / r["wall_s"]
    # One core carries this many real-time calls: call-seconds of audio received per CPU second.
    r["calls_per_core"] = r["audio_s"] / r["cpu_s"]
    return r


def _saturated(bench: _Bench, opts: Options) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in SATURATED_MODES}
    for _ in range(opts.repeat):  # interleaved, so drift on the machine hits both alike
        for mode in runs:
            runs[mode].append(bench.receive(mode, opts.streams, opts.seconds, paced=False))
    # The cheapest run per receiver, among the runs that really saturated it when there are any.
    best = {
        mode: min([r for r in rs if r["utilisation"] >= SATURATED] or rs, key=lambda r: r["cpu_us_per_frame"])
        for mode, rs in runs.items()
    }
    return {
        "streams": opts.streams,
        "audio_s_per_stream": opts.seconds,
        "bare": best["bare"],
        "direct": best["direct"],
        "pipeline": best["pipeline"],
        "ratio": best["pipeline"]["cpu_us_per_frame"] / best["bare"]["cpu_us_per_frame"],
        "ratio_direct": best["pipeline"]["cpu_us_per_frame"] / best["direct"]["cpu_us_per_frame"],
        "ratio_rules": best["alerts"]["cpu_us_per_frame"] / best["pipeline"]["cpu_us_per_frame"],
        "alerts": best["alerts"],
        "runs": {mode: [round(r["cpu_us_per_frame"], 2) for r in rs] for mode, rs in runs.items()},
    }


def _realtime(bench: _Bench, opts: Options) -> dict[str, Any]:
    out: dict[str, Any] = {"streams": opts.realtime_streams, "seconds": opts.realtime_seconds}
    for mode in ("bare", "pipeline"):
        r = bench.receive(mode, opts.realtime_streams, opts.realtime_seconds, paced=True)
        # Real time kept up if the run lasted the audio, plus connecting and the close handshakes.
        r["kept_up"] = r["wall_s"] <= opts.realtime_seconds * 1.05 + 1.0
        out[mode] = r
    return out


def _memory(bench: _Bench, opts: Options) -> dict[str, Any]:
    r = bench.receive("pipeline", opts.long_sessions, opts.long_minutes * 60, paced=False, marks=MEMORY_MARKS)
    n, rss = opts.long_sessions, r["rss"]
    base = rss["baseline"]
    third, two_thirds, end = (rss[f"{mark:.3f}"] for mark in MEMORY_MARKS)
    per_session = [(x - base) / n / 1024 for x in (third, two_thirds, end)]
    return {
        "sessions": n,
        "audio_min_per_session": opts.long_minutes,
        "wall_s": r["wall_s"],
        "rss_baseline_mib": base / 2**20,
        "rss_third_mib": third / 2**20,
        "rss_two_thirds_mib": two_thirds / 2**20,
        "rss_end_mib": end / 2**20,
        "per_session_third_kib": per_session[0],
        "per_session_two_thirds_kib": per_session[1],
        "per_session_end_kib": per_session[2],
        "growth_per_session_kib": per_session[2] - per_session[0],
    }


def run(opts: Options, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the three parts against one generator; print the report; return the RESULT object."""
    import numpy
    import websockets

    cores = os.cpu_count() or 1
    out(
        f"machine: {cores} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"websockets {websockets.__version__}, numpy {numpy.__version__}"
        + (", permessage-deflate ON" if opts.deflate else "")
    )
    bench = _Bench(opts)
    try:
        sat = _saturated(bench, opts)
        _print_saturated(sat, out)
        rt = _realtime(bench, opts)
        _print_realtime(rt, out)
        mem = _memory(bench, opts)
        _print_memory(mem, out)
    finally:
        bench.close()
    result = _result(cores, sat, rt, mem)
    _print_targets(result, out)
    out("RESULT " + json.dumps(result, sort_keys=True))
    return result


# ============================================================================================== report


def _row(name: str, r: dict[str, Any]) -> str:
    return (
        f"  {name:<8} frames={r['messages']:>9,}  wall={r['wall_s']:6.2f} s  frames/s={r['frames_per_s']:>9,.0f}  "
        f"cpu={r['cpu_s']:6.2f} s (user {r['cpu_user_s']:.2f} + sys {r['cpu_sys_s']:.2f})  "
        f"util={r['utilisation']:4.0%}  cpu/frame={r['cpu_us_per_frame']:6.2f} µs  "
        f"-> {r['calls_per_core']:,.0f} calls/core  [generator util {r['generator_utilisation']:.0%}]"
    )


def _print_saturated(sat: dict[str, Any], out: Callable[[str], None]) -> None:
    out(
        f"saturated: {sat['streams']} streams x {sat['audio_s_per_stream']:g} s of audio each, time-scaled "
        f"(one 20 ms frame per message, + a transcript every 2 s); best of {len(sat['runs']['bare'])} runs per mode"
    )
    for mode in SATURATED_MODES:
        out(_row(mode, sat[mode]))
    out("  all runs, cpu/frame µs: " + "  ".join(f"{mode} {sat['runs'][mode]}" for mode in SATURATED_MODES))
    out(f"  ratio pipeline/bare, CPU per frame: {sat['ratio']:.2f}x")
    extra = sat["alerts"]["cpu_us_per_frame"] - sat["pipeline"]["cpu_us_per_frame"]
    out(f"  the alert rules' cost: alerts/pipeline {sat['ratio_rules']:.3f}x ({extra:+.2f} µs per frame)")
    out(
        f"  ratio pipeline/direct (our processing over our own receive path): {sat['ratio_direct']:.2f}x; "
        f"direct/bare (our receive path over websockets' recv()): "
        f"{sat['direct']['cpu_us_per_frame'] / sat['bare']['cpu_us_per_frame']:.2f}x"
    )
    for mode in SATURATED_MODES:
        if sat[mode]["utilisation"] < SATURATED:
            out(f"  note: the {mode} receiver used only {sat[mode]['utilisation']:.0%} of a core: not saturated")


def _print_realtime(rt: dict[str, Any], out: Callable[[str], None]) -> None:
    out(f"real time: {rt['streams']} streams x {rt['seconds']:g} s, paced at one 20 ms frame per message")
    for mode in ("bare", "pipeline"):
        r = rt[mode]
        out(
            f"  {mode:<8} cpu={r['cpu_s']:6.2f} s over wall={r['wall_s']:6.2f} s  util={r['utilisation']:5.1%}  "
            f"cpu/frame={r['cpu_us_per_frame']:6.2f} µs  -> {r['calls_per_core']:,.0f} real-time calls/core  "
            f"kept up: {'yes' if r['kept_up'] else 'NO'}  [generator util {r['generator_utilisation']:.0%}]"
        )


def _print_memory(mem: dict[str, Any], out: Callable[[str], None]) -> None:
    out(
        f"memory: {mem['sessions']} pipeline sessions x {mem['audio_min_per_session']:g} min of audio, "
        f"time-scaled ({mem['wall_s']:.1f} s); receiver RSS while the streams flow"
    )
    out(
        f"  rss baseline {mem['rss_baseline_mib']:.1f} MiB; at 1/3 {mem['rss_third_mib']:.1f} MiB "
        f"({mem['per_session_third_kib']:,.0f} KiB/session); at 2/3 {mem['rss_two_thirds_mib']:.1f} MiB "
        f"({mem['per_session_two_thirds_kib']:,.0f} KiB/session); at end {mem['rss_end_mib']:.1f} MiB "
        f"({mem['per_session_end_kib']:,.0f} KiB/session); growth 1/3 -> end "
        f"{mem['growth_per_session_kib']:+,.0f} KiB/session"
    )


def _result(cores: int, sat: dict[str, Any], rt: dict[str, Any], mem: dict[str, Any]) -> dict[str, Any]:
    def pick(r: dict[str, Any], *keys: str) -> dict[str, Any]:
        return {k: round(r[k], 3) if isinstance(r[k], float) else r[k] for k in keys}

    sat_keys = ("messages", "wall_s", "frames_per_s", "cpu_s", "cpu_us_per_frame", "utilisation", "calls_per_core")
    rt_keys = ("messages", "wall_s", "cpu_s", "cpu_us_per_frame", "utilisation", "calls_per_core", "kept_up")
    return {
        "cores": cores,
        "streams": sat["streams"],
        "frames": {m: sat[m]["messages"] for m in SATURATED_MODES},
        "frames_per_s": {m: round(sat[m]["frames_per_s"]) for m in SATURATED_MODES},
        "cpu_us_per_frame": {m: round(sat[m]["cpu_us_per_frame"], 2) for m in SATURATED_MODES},
        "ratio": round(sat["ratio"], 3),
        "ratio_direct": round(sat["ratio_direct"], 3),
        "ratio_rules": round(sat["ratio_rules"], 3),
        "calls_per_core": round(sat["pipeline"]["calls_per_core"]),
        "saturated": {
            "streams": sat["streams"],
            "audio_s_per_stream": sat["audio_s_per_stream"],
            "runs_cpu_us_per_frame": sat["runs"],
            **{m: pick(sat[m], *sat_keys) for m in SATURATED_MODES},
        },
        "realtime": {
            "streams": rt["streams"],
            "seconds": rt["seconds"],
            **{m: pick(rt[m], *rt_keys) for m in ("bare", "pipeline")},
        },
        "memory": {k: round(v, 1) if isinstance(v, float) else v for k, v in mem.items()},
    }


def _print_targets(result: dict[str, Any], out: Callable[[str], None]) -> None:
    mem = result["memory"]
    flat = mem["growth_per_session_kib"] <= max(64.0, 0.1 * mem["per_session_third_kib"])
    rt_calls = result["realtime"]["pipeline"]["calls_per_core"]
    targets = {
        "ratio_le_1_5": result["ratio"] <= 1.5,
        "realtime_calls_ge_500": min(result["calls_per_core"], rt_calls) >= 500,
        "memory_flat": flat,
    }
    result["targets"] = targets
    # Issue 7 lowered the ratio target to 1.25x; the 1.5x one of issue 3 stays in `targets` for comparison.
    result["ratio_le_1_25"] = result["ratio"] <= 1.25
    mark = {True: "met", False: "MISSED"}
    out(
        f"targets: pipeline/bare <= 1.25x: {result['ratio']:.2f}x {mark[result['ratio_le_1_25']]} "
        f"(<= 1.5x: {mark[targets['ratio_le_1_5']]}); "
        f">= 500 real-time calls: {result['calls_per_core']:,} (saturated) / {rt_calls:,.0f} (paced) per core "
        f"{mark[targets['realtime_calls_ge_500']]}; memory flat with call length: "
        f"{mem['growth_per_session_kib']:+,.0f} KiB/session {mark[flat]}"
    )


# ============================================================================================== CLI


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.listen_ingest", description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, help="concurrent streams, saturated part (default 200)")
    p.add_argument("--seconds", type=float, help="audio seconds per stream, saturated part (default 60)")
    p.add_argument("--realtime-streams", type=int, help="concurrent real-time streams (default 500)")
    p.add_argument("--realtime-seconds", type=float, help="length of the real-time part (default 20)")
    p.add_argument("--long-sessions", type=int, help="sessions of the memory part (default 20)")
    p.add_argument("--long-minutes", type=float, help="minutes of audio per session, memory part (default 30)")
    p.add_argument("--repeat", type=int, help="saturated runs per receiver, interleaved; best kept (default 2)")
    p.add_argument("--deflate", action="store_true", help="let the generator accept permessage-deflate")
    p.add_argument("--data-dir", help="where the pipeline's journals and recordings go (a temp dir inside)")
    p.add_argument("--quick", action="store_true", help="tiny everything (a smoke test, ~10 s)")
    args = p.parse_args(argv)
    base = QUICK if args.quick else Options()
    given = {k: v for k, v in vars(args).items() if k not in ("quick",) and v is not None and v is not False}
    opts = Options(**{**base.__dict__, **given})
    if min(opts.streams, opts.realtime_streams, opts.long_sessions, opts.repeat) < 1:
        p.error("counts must be at least 1")
    if min(opts.seconds, opts.realtime_seconds, opts.long_minutes) <= 0:
        p.error("durations must be positive")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:  # run as a file: the spawned processes must find vapi_mcp too
        sys.path.insert(0, root)
    try:
        run(opts)
    except RuntimeError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
