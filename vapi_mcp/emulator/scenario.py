"""Scripted conversations for the emulator, as data, and the ground truth they imply.

A :class:`Scenario` says who speaks when (customer and assistant :class:`Utterance` s), how the listen
stream is shaped (format, frame size, odd message sizes, a start frame) and which faults to inject (a
dropped socket). Because scenarios are plain pydantic data, a test can script exactly the call it needs
and then compare what the listen side measured against :func:`ground_truth`, computed from the script
alone with the same definitions the audio summary uses (DESIGN §7):

- a party's *speech* is the union of its utterances; utterances of one party separated by less than
  :data:`TURN_MERGE_GAP_S` form one *turn* (an analyser cannot tell them apart, so scenarios avoid it);
- *overlap* is time when both parties speak; an overlap of at least :data:`INTERRUPTION_MIN_S` is an
  *interruption*;
- *silence* is time when nobody speaks, including the lead-in and the tail.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "INTERRUPTION_MIN_S",
    "PARTIES",
    "SCENARIOS",
    "TURN_MERGE_GAP_S",
    "GroundTruth",
    "Interval",
    "Party",
    "PartyTruth",
    "Scenario",
    "Utterance",
    "get_scenario",
    "ground_truth",
    "long_call",
    "merge",
    "overlap_of",
    "truth_of",
]

Party = Literal["customer", "assistant"]
PARTIES: tuple[Party, Party] = ("customer", "assistant")
VAPI_ROLE: dict[str, str] = {"customer": "user", "assistant": "assistant"}

TURN_MERGE_GAP_S = 0.35
INTERRUPTION_MIN_S = 0.2
_ROUND = 6  # seconds are rounded to the microsecond so that 0.7 does not come out as 0.7000000000000002


class Utterance(BaseModel):
    """One stretch of speech by one party. ``audible=False`` marks speech that was muted (actual timelines)."""

    model_config = ConfigDict(frozen=True)

    party: Party
    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    text: str
    level_dbfs: float = Field(default=-24.0, le=0)
    audible: bool = True

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


class Scenario(BaseModel):
    """A scripted call: its conversation, its stream format and the faults to inject."""

    model_config = ConfigDict(frozen=True)

    name: str
    utterances: list[Utterance]
    tail_s: float = Field(default=1.0, ge=0)
    noise_dbfs: float = Field(default=-50.0, le=0)
    sample_rate: int = Field(default=16000, ge=4000, le=96000)
    channels: Literal[1, 2] = 2
    frame_ms: int = Field(default=20, gt=0, le=1000)
    end_when_done: bool = True
    format_frame: bool = False
    transcripts: bool = True
    odd_sizes: bool = False
    drop_socket_at_s: float | None = Field(default=None, ge=0)
    stay_down: bool = False  # after the drop, listen sockets are refused (503) until the call ends
    ended_reason: str = Field(default="customer-ended-call", min_length=1, max_length=200)
    seed: int = 0

    @field_validator("utterances")
    @classmethod
    def _sorted(cls, utterances: list[Utterance]) -> list[Utterance]:
        return sorted(utterances, key=lambda u: (u.start_s, u.party))

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if (self.sample_rate * self.frame_ms) % 1000:
            raise ValueError("sample_rate * frame_ms must be a whole number of samples per frame")
        for party in PARTIES:
            own = [u for u in self.utterances if u.party == party]
            for before, after in itertools.pairwise(own):
                if after.start_s < before.end_s:
                    raise ValueError(f"{party} utterances overlap at {after.start_s}s: one voice cannot say two things")
        return self

    @property
    def duration_s(self) -> float:
        """End of the last utterance plus the tail of silence."""
        last = max((u.end_s for u in self.utterances), default=0.0)
        return last + self.tail_s

    @property
    def frame_samples(self) -> int:
        """Sample frames per listen message (20 ms at 16 kHz = 320)."""
        return self.sample_rate * self.frame_ms // 1000


class PartyTruth(BaseModel):
    talk_s: float
    turns: int


class GroundTruth(BaseModel):
    """What a perfect listener would measure. ``segments`` are the per-party turns as (party, start_s, end_s)."""

    duration_s: float
    parties: dict[str, PartyTruth]
    overlap_s: float
    longest_silence_s: float
    interruptions: int
    segments: list[tuple[str, float, float]]
    events: list[tuple[str, str]]
    transcripts: list[tuple[str, str]]


Interval = tuple[float, float]


def merge(intervals: Iterable[Interval], gap: float = 0.0) -> list[Interval]:
    """Union of intervals, also joining neighbours closer than ``gap``."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start - merged[-1][1] < gap + 1e-9:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def overlap_of(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if end > start:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def truth_of(utterances: Iterable[Utterance], duration_s: float) -> GroundTruth:
    """Ground truth of any timeline (inaudible utterances are ignored) over a call of ``duration_s``."""
    heard = [u for u in utterances if u.audible]
    speech = {p: merge((u.start_s, u.end_s) for u in heard if u.party == p) for p in PARTIES}
    turns = {p: merge(speech[p], TURN_MERGE_GAP_S) for p in PARTIES}
    overlaps = overlap_of(speech["customer"], speech["assistant"])
    everyone = merge(speech["customer"] + speech["assistant"])
    silences: list[float] = []
    cursor = 0.0
    for start, end in everyone:
        silences.append(start - cursor)
        cursor = end
    silences.append(duration_s - cursor)
    boundaries = sorted(
        [(end, 0, p, "speech.stopped") for p in PARTIES for _, end in turns[p]]
        + [(start, 1, p, "speech.started") for p in PARTIES for start, _ in turns[p]]
    )
    return GroundTruth(
        duration_s=round(duration_s, _ROUND),
        parties={
            p: PartyTruth(talk_s=round(sum(e - s for s, e in speech[p]), _ROUND), turns=len(turns[p])) for p in PARTIES
        },
        overlap_s=round(sum(e - s for s, e in overlaps), _ROUND),
        longest_silence_s=round(max(silences), _ROUND),
        interruptions=sum(1 for s, e in overlaps if e - s >= INTERRUPTION_MIN_S - 1e-9),
        segments=sorted((p, round(s, _ROUND), round(e, _ROUND)) for p in PARTIES for s, e in turns[p]),
        events=[(kind, party) for _, _, party, kind in boundaries],
        # In the order the final transcripts arrive: when each utterance ends.
        transcripts=[(VAPI_ROLE[u.party], u.text) for u in sorted(heard, key=lambda u: (u.end_s, u.start_s)) if u.text],
    )


def ground_truth(scenario: Scenario) -> GroundTruth:
    """What the listen side should measure for ``scenario`` played untouched to its end."""
    return truth_of(scenario.utterances, scenario.duration_s)


def _u(party: Party, start_s: float, end_s: float, text: str, level_dbfs: float = -24.0) -> Utterance:
    return Utterance(
        party=party, start_s=start_s, duration_s=round(end_s - start_s, _ROUND), text=text, level_dbfs=level_dbfs
    )


def _support_call() -> Scenario:
    # The demo's call: greeting, problem, 1.5 s of thought (the longest silence), an answer the customer
    # talks over for 0.7 s (one interruption), and a wrap-up. 12.3 s in all.
    return Scenario(
        name="support-call",
        utterances=[
            _u("assistant", 0.2, 2.2, "Hi, Acme support, this is Ava. How can I help?"),
            _u("customer", 2.6, 5.0, "My internet keeps dropping out since last night.", -22.0),
            _u("assistant", 6.5, 8.6, "Sorry about that. Can you confirm your name?"),
            _u("customer", 7.9, 9.3, "Jordan Lee. Is it fixed?", -22.0),
            _u("assistant", 9.7, 11.3, "Thanks Jordan, I've reset your line."),
        ],
    )


def _quick() -> Scenario:
    return Scenario(
        name="quick",
        utterances=[
            _u("assistant", 0.2, 1.4, "Hello, how can I help?"),
            _u("customer", 1.8, 3.2, "Just checking my balance.", -22.0),
        ],
        tail_s=0.8,
    )


def _dead_air() -> Scenario:
    # 4 s of nobody speaking in the middle: a silence event at a 2 s threshold must fire.
    return Scenario(
        name="dead-air",
        utterances=[
            _u("assistant", 0.2, 1.8, "Hello, are you there?"),
            _u("customer", 2.2, 3.4, "Yes, one moment.", -22.0),
            _u("customer", 7.4, 8.8, "Sorry, I'm back now.", -22.0),
            _u("assistant", 9.2, 10.6, "No problem, let's continue."),
        ],
    )


def _open_ended() -> Scenario:
    # The call stays in progress after the script: only a control message (end-call, transfer) ends it.
    return Scenario(
        name="open-ended",
        utterances=[
            _u("assistant", 0.2, 1.8, "Hi, you're through to Acme billing."),
            _u("customer", 2.3, 3.8, "I'd like to talk to a person, please.", -22.0),
            _u("assistant", 4.2, 5.6, "Of course, please hold."),
        ],
        end_when_done=False,
    )


_WORDS = (
    "account bill payment plan phone line router signal order refund delivery address card number balance "
    "today tomorrow please thanks sure okay right check update change cancel help again minute moment "
    "service issue problem question offer price week month email code reset restart connection"
).split()


def long_call(duration_s: float, seed: int = 0) -> Scenario:
    """A call of exactly ``duration_s`` alternating turns of 1-4 s, with pauses and ~20 % overlaps.

    Same-party gaps always exceed :data:`TURN_MERGE_GAP_S`, so every utterance is one turn.
    """
    if duration_s < 2.0:
        raise ValueError("a long call lasts at least 2 s")
    rng = random.Random(seed)
    utterances: list[Utterance] = []
    party: Party = "assistant"
    last_end: dict[str, float] = {"customer": -1.0, "assistant": -1.0}
    start, limit = 0.3, duration_s - 0.5  # leave at least 0.5 s of tail
    while True:
        length = round(rng.uniform(1.0, 4.0), 3)
        end = min(start + length, limit)
        if end - start < 0.6:
            break
        words = " ".join(rng.choice(_WORDS) for _ in range(max(1, round((end - start) * 2.5))))
        level = -24.0 if party == "assistant" else -22.0
        utterances.append(_u(party, round(start, 3), round(end, 3), words.capitalize() + ".", level))
        last_end[party] = end
        party = "customer" if party == "assistant" else "assistant"
        cut_in = end - rng.uniform(0.3, 0.8)  # the other party talks over the end of this utterance
        if rng.random() < 0.2 and end - start >= 1.0 and cut_in >= last_end[party] + 0.4:
            start = cut_in
        else:
            start = end + rng.uniform(0.4, 1.5)
    last = max(u.end_s for u in utterances)
    return Scenario(name="long-call", utterances=utterances, tail_s=round(duration_s - last, _ROUND), seed=seed)


def _talk_over() -> Scenario:
    # The customer talks over the assistant's long answer for 2.4 s (from 2.6 s): one long overlap.
    return Scenario(
        name="talk-over",
        utterances=[
            _u("assistant", 0.2, 5.0, "Let me explain our three plans and what each of them includes for you."),
            _u("customer", 2.6, 5.0, "No, no, stop, that is not what I asked at all!", -20.0),
            _u("assistant", 5.6, 7.0, "Sorry, go ahead."),
            _u("customer", 7.4, 8.6, "I just want my bill fixed.", -22.0),
        ],
    )


def _angry() -> Scenario:
    # An angry customer: what the keywords rule is for (the phrases are the supervisor's to choose).
    return Scenario(
        name="angry",
        utterances=[
            _u("assistant", 0.2, 1.6, "Hi, Acme billing, how can I help?"),
            _u("customer", 2.0, 5.2, "This is ridiculous. Cancel my account and get me a manager.", -18.0),
            _u("assistant", 5.6, 7.4, "I'm sorry to hear that, let me see what I can do."),
        ],
    )


def _monologue() -> Scenario:
    # The assistant talks for 33 s without a break (the monologue rule's default is 30 s).
    return Scenario(
        name="monologue",
        utterances=[
            _u("customer", 0.3, 1.5, "What do your plans cost?", -22.0),
            _u("assistant", 2.0, 35.0, " ".join(["Our plans include many options for every budget."] * 12)),
            _u("customer", 35.5, 36.5, "Okay, thanks.", -22.0),
        ],
    )


def _bad_audio(name: str, level_dbfs: float, noise_dbfs: float) -> Scenario:
    # The customer's line is too quiet (quiet-line) or clips (clipping) for 8 s from 2.0 s.
    return Scenario(
        name=name,
        utterances=[
            _u("assistant", 0.2, 1.6, "Hello, can you hear me?"),
            _u("customer", 2.0, 10.0, "Yes I can hear you, can you hear me? I am calling about my order.", level_dbfs),
            _u("assistant", 10.4, 11.6, "Thank you, one moment."),
        ],
        noise_dbfs=noise_dbfs,
    )


def _listen_lost() -> Scenario:
    # The listen socket drops at 3.0 s and every reconnect is refused until the call ends at 15 s.
    return _quick().model_copy(
        update={"name": "listen-lost", "drop_socket_at_s": 3.0, "stay_down": True, "tail_s": 11.8}
    )


def _error_ending() -> Scenario:
    # A short call Vapi ends with an error (a failed LLM), not a hang-up.
    return _quick().model_copy(update={"name": "error-ending", "ended_reason": "pipeline-error-openai-llm-failed"})


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _support_call(),
        _quick(),
        _dead_air(),
        long_call(60.0),
        _open_ended(),
        _talk_over(),
        _angry(),
        _monologue(),
        _bad_audio("quiet-line", -45.0, -75.0),
        _bad_audio("clipping", -2.0, -50.0),
        _listen_lost(),
        _error_ending(),
    )
}


def get_scenario(name: str) -> Scenario:
    """A built-in scenario by name (a copy: tweak it with ``model_copy(update=...)``)."""
    try:
        return SCENARIOS[name].model_copy(deep=True)
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; built-in scenarios: {', '.join(SCENARIOS)}") from None
