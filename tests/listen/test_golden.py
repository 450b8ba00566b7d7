"""The golden corpus: every emulator scenario through the analysis, compared with what it gave before.

The analysis is optimised for speed, and an optimisation may change nothing it reports. The corpus in
``golden/`` was written by the analysis as it was before any optimisation (``python -m
tests.listen.test_golden --write``, run on that code). Each file holds one call's audio recipe (a scenario,
stored whole, plus control messages applied while it renders) and several *cases*: the same audio cut into
different blocks for :class:`AudioAnalyzer`, or into different message sizes for :class:`AudioPipeline`,
with gaps and analyser settings. Each case stores every analysis event in order and the summary at a few
moments (with how many events had been emitted by then), so the replay checks what was decided, when it
was emitted, and what a live summary read in between.

The recipe is rebuilt from the file, not from today's scenario definitions, so editing a built-in scenario
does not break it; the rendered audio's digest is stored too, so a change to the emulator's synthesis is
reported as that, not as an analysis regression.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vapi_mcp.emulator.audio import ODD_SIZES, CallAudio
from vapi_mcp.emulator.scenario import Scenario, get_scenario, long_call
from vapi_mcp.listen.analysis import AudioAnalyzer
from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.frames import AudioFormat
from vapi_mcp.listen.pipeline import AudioPipeline

GOLDEN = Path(__file__).parent / "golden"
ANALYSIS_EVENTS = frozenset({"speech.started", "speech.stopped", "silence", "overlap"})
Controls = list[tuple[float, str, str]]  # (at_s, "mute" | "unmute" | "say" | "end", argument)


# ---------------------------------------------------------------------------------------------- audio
@dataclass(frozen=True)
class Rendered:
    pcm: bytes
    texts: list[tuple[int, str]]  # (byte offset the text frame follows, its JSON)
    channels: int
    sample_rate: int

    @property
    def digest(self) -> str:
        h = hashlib.sha256(self.pcm)
        for offset, text in self.texts:
            h.update(f"{offset}:{text}".encode())
        return h.hexdigest()


def render(scenario: Scenario, controls: Controls) -> Rendered:
    """The call's listen stream: PCM with its text frames, controls applied as the position reaches them."""
    audio = CallAudio(scenario)
    todo = sorted(controls)
    pcm = bytearray()
    texts: list[tuple[int, str]] = []
    while not audio.done and audio.position_s < scenario.duration_s + 30:
        while todo and audio.position_s >= todo[0][0]:
            _, action, arg = todo.pop(0)
            if action == "say":
                audio.say(arg)
            elif action == "end":
                audio.end()
            else:
                getattr(audio, action)(arg)
        pcm += audio.render(audio.frame_samples)
        texts.extend((len(pcm), json.dumps(frame)) for frame in audio.due_text_frames())
    return Rendered(bytes(pcm), texts, scenario.channels, scenario.sample_rate)


@cache
def _rendered(name: str) -> tuple[dict[str, Any], Rendered]:
    stored = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    return stored, render(Scenario.model_validate(stored["scenario"]), [tuple(c) for c in stored["controls"]])


# ---------------------------------------------------------------------------------------------- feeding
def _dump(summary: Any) -> dict[str, Any]:
    return summary if isinstance(summary, dict) else summary.model_dump()


def _canonical(value: Any) -> str:
    """JSON text that tells 2 from 2.0, so a changed type is a difference too."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass
class Trace:
    events: list[list[Any]] = field(default_factory=list)
    summaries: list[list[Any]] = field(default_factory=list)

    def snapshot(self, summary: Any) -> None:
        self.summaries.append([len(self.events), _dump(summary)])


def _cuts(total: int, sizes: list[int], stops: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive ``(start, end)`` pieces of ``[0, total)``, sized by cycling ``sizes``, also cut at ``stops``."""
    pos = 0
    for size in itertools.cycle(sizes):
        if pos >= total:
            return
        end = min(total, pos + size, *[s for s in stops if s > pos])
        yield pos, end
        pos = end


@dataclass(frozen=True)
class Step:
    """One :meth:`AudioAnalyzer.process` call of an analyzer case, with what surrounds it."""

    skip_s: float | None  # AudioAnalyzer.skip() just before it
    block: np.ndarray
    snapshot: bool  # the summary is read just after it


def analyzer_steps(case: dict[str, Any], audio: Rendered) -> tuple[AudioAnalyzer, list[Step]]:
    fmt = AudioFormat(sample_rate=audio.sample_rate, channels=audio.channels)
    gaps: dict[int, float] = {int(at): s for at, s in case.get("gaps", [])}  # at: in sample frames
    snap = max(1, round(case["snapshot_s"] * audio.sample_rate))
    samples = np.frombuffer(audio.pcm, dtype="<i2").reshape(-1, audio.channels)
    steps = [
        Step(gaps.get(start), samples[start:end].copy(), end // snap > start // snap)
        for start, end in _cuts(len(samples), case["blocks"], sorted(gaps))
    ]
    return AudioAnalyzer(fmt, call_id="golden", **case.get("params", {})), steps


def _emit(trace: Trace, events: list[Any]) -> None:
    trace.events.extend([e.type, e.data] for e in events)


def _end(trace: Trace, analyzer: AudioAnalyzer) -> Trace:
    trace.snapshot(analyzer.summary())
    _emit(trace, analyzer.finish())
    trace.snapshot(analyzer.summary())
    return trace


def run_case(case: dict[str, Any], audio: Rendered) -> Trace:
    """Feed the audio as the case says; every analysis event in order and the summary at each snapshot."""
    trace = Trace()
    if case["kind"] == "analyzer":
        analyzer, steps = analyzer_steps(case, audio)
        for step in steps:
            if step.skip_s is not None:
                _emit(trace, analyzer.skip(step.skip_s))
            _emit(trace, analyzer.process(step.block))
            if step.snapshot:
                trace.snapshot(analyzer.summary())
        return _end(trace, analyzer)
    pipeline, actions = pipeline_actions(case, audio, trace)
    for action, arg in actions:
        if action == "snapshot":
            trace.snapshot(pipeline.summary())
        elif action == "gap":
            pipeline.gap(arg)  # pyright: ignore[reportArgumentType]
        else:
            pipeline.feed(arg)  # pyright: ignore[reportArgumentType]
    return _end_pipeline(trace, pipeline)


Action = tuple[str, "bytes | str | float | None"]  # ("feed", message) | ("gap", seconds) | ("snapshot", None)


def pipeline_actions(case: dict[str, Any], audio: Rendered, trace: Trace) -> tuple[AudioPipeline, list[Action]]:
    """A pipeline whose analysis events go to ``trace``, and what to do to it, in order."""
    frame_bytes = 2 * audio.channels
    fmt = AudioFormat(sample_rate=audio.sample_rate, channels=audio.channels)
    gaps: dict[int, float] = {int(at): s for at, s in case.get("gaps", [])}  # at: in sample frames
    snap = max(1, round(case["snapshot_s"] * audio.sample_rate)) * frame_bytes
    log = EventLog("golden")
    log.add_listener(lambda e: trace.events.append([e.type, e.data]) if e.type in ANALYSIS_EVENTS else None)
    pipeline = AudioPipeline("golden", log, recording_path=None, block_s=case["block_s"])
    actions: list[Action] = []
    if fmt != AudioFormat():
        actions.append(("feed", json.dumps({"type": "start", "sampleRate": fmt.sample_rate, "channels": fmt.channels})))
    texts = list(audio.texts)
    stops = sorted({at * frame_bytes for at in gaps} | {offset for offset, _ in texts})
    for start, end in _cuts(len(audio.pcm), case["messages"], stops):
        if start % frame_bytes == 0 and start // frame_bytes in gaps:
            actions.append(("gap", gaps[start // frame_bytes]))
        actions.append(("feed", audio.pcm[start:end]))
        while texts and texts[0][0] <= end:
            actions.append(("feed", texts.pop(0)[1]))
        if end // snap > start // snap:
            actions.append(("snapshot", None))
    return pipeline, actions


def _end_pipeline(trace: Trace, pipeline: AudioPipeline) -> Trace:
    trace.snapshot(pipeline.summary())
    pipeline.finish()
    trace.snapshot(pipeline.summary())
    return trace


# ---------------------------------------------------------------------------------------------- the corpus
def _cases() -> list[tuple[str, str]]:
    return [
        (path.stem, case["name"])
        for path in sorted(GOLDEN.glob("*.json"))
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]
    ]


def _check(trace: Trace, stored: dict[str, Any], case: dict[str, Any]) -> None:
    events = stored["event_lists"][case["events"]]
    assert len(trace.events) == len(events), case["name"]
    for i, (got, want) in enumerate(zip(trace.events, events, strict=True)):
        assert _canonical(got) == _canonical(want), f"{case['name']}: event {i}"
    summaries = [[n, stored["summaries"][k]] for n, k in case["summaries"]]
    assert len(trace.summaries) == len(summaries), case["name"]
    for i, (got, want) in enumerate(zip(trace.summaries, summaries, strict=True)):
        assert _canonical(got) == _canonical(want), f"{case['name']}: summary {i}"


def _checked_audio(recipe: str) -> tuple[dict[str, Any], Rendered]:
    stored, audio = _rendered(recipe)
    assert audio.digest == stored["digest"], (
        "the emulator renders this recipe differently now: the corpus cannot judge the analysis. "
        "Regenerate it with the analysis of the last commit that passed it, never with new analysis code."
    )
    return stored, audio


@pytest.mark.parametrize(("recipe", "case_name"), _cases())
def test_golden(recipe: str, case_name: str) -> None:
    stored, audio = _checked_audio(recipe)
    case = next(c for c in stored["cases"] if c["name"] == case_name)
    _check(run_case(case, audio), stored, case)


@dataclass
class _Feed:
    stored: dict[str, Any]
    case: dict[str, Any]
    analyzer: AudioAnalyzer
    steps: list[Step]
    trace: Trace = field(default_factory=Trace)
    at: int = 0


def _analyzer_feeds() -> list[_Feed]:
    feeds: list[_Feed] = []
    for recipe in sorted({recipe for recipe, _ in _cases()}):
        stored, audio = _checked_audio(recipe)
        for case in stored["cases"]:
            if case["kind"] == "analyzer":
                feeds.append(_Feed(stored, case, *analyzer_steps(case, audio)))
    return feeds


def _next_steps(f: _Feed, rng: random.Random) -> list[Step]:
    """The feed's next block, and at times the one after (a skip or a summary read must come between calls)."""
    steps: list[Step] = []
    while f.at < len(f.steps) and len(steps) < 2:
        step = f.steps[f.at]
        if steps and (step.skip_s is not None or steps[-1].snapshot or rng.random() < 0.5):
            break
        if step.skip_s is not None:
            _emit(f.trace, f.analyzer.skip(step.skip_s))
        steps.append(step)
        f.at += 1
    return steps


def test_golden_through_process_many() -> None:
    """Every analyzer case at once, each call taking the next block of every case (two, at times): the
    vectorised pass over many streams must give each exactly what it gave alone."""
    feeds = _analyzer_feeds()
    rng = random.Random(7)
    while any(f.at < len(f.steps) for f in feeds):
        owners = [(f, step) for f in feeds for step in _next_steps(f, rng)]
        results = AudioAnalyzer.process_many([(f.analyzer, step.block) for f, step in owners])
        for (f, step), events in zip(owners, results, strict=True):
            _emit(f.trace, events)
            if step.snapshot:
                f.trace.snapshot(f.analyzer.summary())
    for f in feeds:
        _check(_end(f.trace, f.analyzer), f.stored, f.case)


async def test_golden_pipelines_in_a_running_loop() -> None:
    """Every pipeline case at once in one event loop, a message of each in turn: blocks then wait for the end
    of the loop's turn and are analysed together, and a turn ends at random moments (after 1 to 300 rounds
    of messages). Each pipeline must still give exactly what it gave alone."""
    feeds: list[tuple[dict[str, Any], dict[str, Any], AudioPipeline, list[Action], Trace]] = []
    for recipe in sorted({recipe for recipe, _ in _cases()}):
        stored, audio = _checked_audio(recipe)
        for case in stored["cases"]:
            if case["kind"] == "pipeline":
                trace = Trace()
                feeds.append((stored, case, *pipeline_actions(case, audio, trace), trace))
    rng = random.Random(11)
    rounds = max(len(actions) for *_, actions, _ in feeds)
    for i in range(rounds):
        for _, _, pipeline, actions, trace in feeds:
            if i < len(actions):
                action, arg = actions[i]
                if action == "snapshot":
                    trace.snapshot(pipeline.summary())
                elif action == "gap":
                    pipeline.gap(arg)  # type: ignore[arg-type]
                else:
                    pipeline.feed(arg)  # type: ignore[arg-type]
        if rng.random() < 1 / 150:
            await asyncio.sleep(0)  # the turn ends: everything waiting is analysed
    for stored, case, pipeline, _, trace in feeds:
        _check(_end_pipeline(trace, pipeline), stored, case)


def test_the_corpus_is_there_and_covers_every_scenario() -> None:
    recipes = {path.stem for path in GOLDEN.glob("*.json")}
    for name in ("support-call", "quick", "dead-air", "long-call", "open-ended"):
        assert name in recipes
    kinds = {c["kind"] for path in GOLDEN.glob("*.json") for c in json.loads(path.read_text())["cases"]}
    assert kinds == {"analyzer", "pipeline"}


# ---------------------------------------------------------------------------------------------- writing it
def _recipes() -> dict[str, tuple[Scenario, Controls, list[dict[str, Any]]]]:
    """What the corpus holds. Block and message sizes: one window, the pipeline's 1 s, primes, a mix."""
    mix = [1, 15999, 24000, 333, 4000, 320, 8000, 7]
    odd = list(ODD_SIZES)

    def analyzer(blocks: list[int], snapshot_s: float, **extra: Any) -> dict[str, Any]:
        name = "analyzer/" + ("mix" if blocks == mix else "-".join(map(str, blocks)))
        suffix = "".join(f"/{k}" for k in extra)
        return {"name": name + suffix, "kind": "analyzer", "blocks": blocks, "snapshot_s": snapshot_s, **extra}

    def pipeline(messages: list[int], block_s: float, snapshot_s: float, **extra: Any) -> dict[str, Any]:
        name = f"pipeline/{'odd' if messages == odd else messages[0]}/{block_s:g}s" + "".join(f"/{k}" for k in extra)
        return {
            "name": name,
            "kind": "pipeline",
            "messages": messages,
            "block_s": block_s,
            "snapshot_s": snapshot_s,
            **extra,
        }

    standard = [analyzer([16000], 2.5), analyzer([320], 2.5), analyzer([7919], 2.5), analyzer(mix, 2.5)]
    piped = [pipeline([1280], 1.0, 2.5), pipeline(odd, 0.25, 2.5)]
    tuned = {
        "silence_threshold_s": 0.5,
        "hangover_s": 0.2,
        "min_speech_s": 0.3,
        "min_overlap_s": 0.5,
        "max_segments": 4,
        "sparkline_width": 6,
        "floor_margin_db": 6.0,
        "abs_floor_dbfs": -60.0,
    }
    support = get_scenario("support-call")
    loud = long_call(30.0, seed=5)
    loud = loud.model_copy(
        update={
            "name": "loud-line",
            "noise_dbfs": -33.0,
            "utterances": [u.model_copy(update={"level_dbfs": -1.0}) for u in loud.utterances],
        }
    )
    hushed = support.model_copy(  # a line hiss under the absolute floor but not digital silence: tracked, never loud
        update={
            "name": "hushed-line",
            "noise_dbfs": -66.0,
            "utterances": [u.model_copy(update={"level_dbfs": -40.0}) for u in support.utterances],
        }
    )
    quiet = support.model_copy(
        update={
            "name": "quiet-line",
            "noise_dbfs": -100.0,
            "utterances": [u.model_copy(update={"level_dbfs": -45.0}) for u in support.utterances],
        }
    )
    return {
        "support-call": (
            support,
            [],
            [
                *standard,
                *piped,
                analyzer([16000], 2.5, gaps=[[64000, 1.25], [128000, 0.0], [160000, 0.37]]),
                analyzer([4000], 2.5, params=tuned),
                pipeline([1280], 1.0, 2.5, gaps=[[70000, 0.8]]),
            ],
        ),
        "quick": (get_scenario("quick"), [], [*standard, *piped]),
        "dead-air": (
            get_scenario("dead-air"),
            [],
            [*standard, *piped, analyzer([3333], 2.0, params={"silence_threshold_s": 0.5})],
        ),
        "long-call": (
            get_scenario("long-call"),
            [],
            [
                *(dict(case, snapshot_s=7.5) for case in (*standard, *piped)),
                analyzer([16000], 15.0, params={"max_segments": 8, "sparkline_width": 20}),
            ],
        ),
        "open-ended": (get_scenario("open-ended"), [(7.0, "end", "")], [*standard, *piped]),
        "support-call-mono": (
            support.model_copy(update={"name": "support-call-mono", "channels": 1}),
            [],
            [analyzer([16000], 2.5), analyzer([7919], 2.5), pipeline([640], 1.0, 2.5), pipeline(odd, 0.25, 2.5)],
        ),
        "support-call-8k": (
            support.model_copy(update={"name": "support-call-8k", "sample_rate": 8000}),
            [],
            [analyzer([8000], 2.5), analyzer([7919], 2.5), pipeline([640], 1.0, 2.5)],
        ),
        "support-call-48k": (
            support.model_copy(update={"name": "support-call-48k", "sample_rate": 48000}),
            [],
            [analyzer([48000], 2.5), analyzer([7919], 2.5), pipeline([3840], 1.0, 2.5)],
        ),
        "controls": (
            support,
            [
                (3.0, "mute", "customer"),
                (4.1, "unmute", "customer"),
                (5.5, "say", "Please hold on."),
                (12.0, "end", ""),
            ],
            [analyzer([16000], 2.5), analyzer([5000], 2.5), analyzer(mix, 2.5), pipeline([1280], 1.0, 2.5)],
        ),
        "loud-line": (loud, [], [analyzer([16000], 5.0), analyzer([7919], 5.0), pipeline([1280], 1.0, 5.0)]),
        "quiet-line": (quiet, [], [analyzer([16000], 2.5), analyzer(mix, 2.5), pipeline([1280], 1.0, 2.5)]),
        "hushed-line": (hushed, [], [analyzer([16000], 2.5), analyzer([8000], 2.5), pipeline([1280], 1.0, 2.5)]),
        "long-call-10min": (
            long_call(600.0, seed=11),
            [],
            [analyzer([16000], 300.0), analyzer([24000], 300.0), pipeline([1280], 1.0, 300.0)],
        ),
    }


def write_corpus() -> None:
    """Run the analysis as it is now over every recipe and store what it gave. Only on trusted analysis code."""
    GOLDEN.mkdir(exist_ok=True)
    for name, (scenario, controls, cases) in _recipes().items():
        audio = render(scenario, controls)
        # Most cases agree on most of what they report: each distinct event list and summary is stored once.
        event_lists: dict[str, int] = {}
        summaries: dict[str, int] = {}
        for case in cases:
            trace = run_case(case, audio)
            case["events"] = event_lists.setdefault(_canonical(trace.events), len(event_lists))
            case["summaries"] = [[n, summaries.setdefault(_canonical(s), len(summaries))] for n, s in trace.summaries]
        stored = {
            "scenario": scenario.model_dump(mode="json"),
            "controls": controls,
            "digest": audio.digest,
            "cases": cases,
            "event_lists": [json.loads(text) for text in event_lists],
            "summaries": [json.loads(text) for text in summaries],
        }
        text = json.dumps(stored, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        (GOLDEN / f"{name}.json").write_text(text + "\n", encoding="utf-8")
        print(f"{name}: {len(cases)} cases, {len(text):,} bytes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="(re)write the corpus with the current analysis")
    if parser.parse_args().write:
        write_corpus()
