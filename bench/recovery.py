"""Restart recovery's costs (issue 11): indexing a data dir of many calls, and analysing a recording again.

    python -m bench.recovery            # 1,000 ended calls of 300 events each, a 15-minute recording
    python -m bench.recovery --quick    # tiny everything, a second or two (tests/test_bench_smoke.py)

It prints, from one run:

- ``index``: the wall time a starting server spends indexing ``--calls`` ended calls (each with a snapshot
  holding its final summary and a journal of ``--events`` events), as :class:`CallArchive` does at start,
  and the memory each indexed call keeps (``tracemalloc``, the index's own objects);
- ``replay``: the CPU a resumed call costs to analyse ``--minutes`` of stereo 16 kHz recording again (what
  :meth:`AudioPipeline.resume_after_restart` does, in a worker thread), as seconds and as a ratio to real time.

Everything is written under a temporary folder (or ``--data-dir``) and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from vapi_mcp.listen.analysis import AudioAnalyzer
from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.recorder import WavRecorder, recording_layout
from vapi_mcp.listen.replay import replay_recording
from vapi_mcp.store.local import LocalStore
from vapi_mcp.supervisor.archive import CallArchive
from vapi_mcp.supervisor.calls import SupervisedCall
from vapi_mcp.vapi import Call

RATE = 16000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="20 calls of 20 events, 0.2 minutes of audio")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.events, args.minutes = 20, 20, 0.2
    return args


def fill(store: LocalStore, calls: int, events: int) -> None:
    """``calls`` ended calls as a supervisor leaves them: journal, snapshot with the final summary."""
    summary = AudioAnalyzer(call_id="x").summary().model_dump(mode="json")
    for i in range(calls):
        call_id = f"call-{i:06d}"
        call = Call.model_validate(
            {
                "id": call_id,
                "status": "ended",
                "endedReason": "customer-ended-call",
                "type": "outboundPhoneCall",
                "createdAt": "2026-05-09T07:35:25.123Z",
                "startedAt": "2026-05-09T07:35:27.000Z",
                "endedAt": "2026-05-09T07:41:02.456Z",
                "assistantId": "asst-support",
                "customer": {"number": "+14155550123", "name": "Sarah"},
            }
        )
        log = EventLog(call_id, journal=store.open_journal(call_id))
        for n in range(events):
            log.append("transcript", {"role": "customer", "text": f"utterance {n} of the call", "final": True})
        CallArchive(store).save(SupervisedCall(call=call, log=log, final_summary={**summary, "call_id": call_id}))
        log.close()


def bench_index(root: Path, calls: int, events: int) -> dict[str, float]:
    store = LocalStore(root)
    fill(store, calls, events)
    archive = CallArchive(store)
    started = time.perf_counter()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    archive.add(archive.scan())
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    traced_s = time.perf_counter() - started
    fresh = CallArchive(store)  # again without tracemalloc, which slows allocation
    started = time.perf_counter()
    fresh.add(fresh.scan())
    index_s = time.perf_counter() - started
    assert len(archive) == len(fresh) == calls
    return {"index_s": index_s, "index_traced_s": traced_s, "bytes_per_call": kept / calls}


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Stereo turns of 1-4 s (a tone with noise) over line hiss, so the analysis has runs to find."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    out = rng.normal(0, 25, (n, 2))
    pos, party = 0, 0
    while pos < n:
        length = int(rng.uniform(1.0, 4.0) * RATE)
        t = np.arange(min(length, n - pos)) / RATE
        out[pos : pos + len(t), party] += 5000 * np.sin(2 * np.pi * (180 + 90 * party) * t)
        pos += len(t) + int(rng.uniform(0.3, 1.2) * RATE)
        party = 1 - party
    return out.astype(np.int16)


def bench_replay(root: Path, minutes: float) -> dict[str, float]:
    path = root / "recording.wav"
    with WavRecorder(path) as recorder:
        for start in range(0, int(minutes * 60), 60):
            recorder.write(speech_like(min(60.0, minutes * 60 - start), seed=start))
    layout = recording_layout(path)
    audio_s = layout.data_bytes / 4 / RATE
    analyzer = AudioAnalyzer()
    started = time.process_time()
    replay_recording(analyzer, path, layout, [])
    cpu_s = time.process_time() - started
    turns = sum(p.turns for p in analyzer.summary().parties.values())
    return {"audio_s": audio_s, "replay_cpu_s": cpu_s, "realtime_ratio": audio_s / cpu_s, "turns": turns}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="vapi-mcp-recovery-", dir=args.data_dir))
    try:
        index = bench_index(base / "data", args.calls, args.events)
        replay = bench_replay(base, args.minutes)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"index: {args.calls} ended calls of {args.events} events: {index['index_s']:.3f} s wall", flush=True)
    print(f"  memory per indexed call: {index['bytes_per_call'] / 1024:.2f} KiB (tracemalloc)")
    print(
        f"replay: {replay['audio_s'] / 60:.1f} min of stereo 16 kHz audio analysed again in "
        f"{replay['replay_cpu_s']:.3f} s CPU ({replay['realtime_ratio']:.0f}x real time, {replay['turns']:.0f} turns)"
    )
    result = {"calls": args.calls, "events": args.events, **index, **replay}
    print("RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
