"""The ground truth of what a scenario puts on the line, in the terms alert rules speak (DESIGN §11).

:func:`conditions` reads a :class:`~vapi_mcp.emulator.scenario.Scenario` alone and says when nobody spoke,
when both did, each party's unbroken turns, each utterance's level, what was said and when it was final, when
the listen socket dropped (and whether it stayed down) and how the call ends. A test compares the alerts a
supervisor raised with what these imply for the rules' parameters; the emulator knows nothing of the rules.
"""

from __future__ import annotations

from pydantic import BaseModel

from vapi_mcp.emulator.scenario import PARTIES, TURN_MERGE_GAP_S, Interval, Scenario, merge, overlap_of

__all__ = ["Conditions", "Spoken", "conditions"]


class Spoken(BaseModel):
    """One utterance as heard: who, when, how loud (RMS dBFS), what (final at ``end_s``)."""

    party: str
    start_s: float
    end_s: float
    level_dbfs: float
    text: str


class Conditions(BaseModel):
    duration_s: float
    silences: list[Interval]
    """Stretches when nobody speaks, the lead-in and the tail included."""
    overlaps: list[Interval]
    turns: dict[str, list[Interval]]
    """Each party's unbroken speech (pauses under the analyser's hangover bridged)."""
    spoken: list[Spoken]
    drop_at_s: float | None
    stays_down: bool
    ended_reason: str


def _rounded(intervals: list[Interval]) -> list[Interval]:
    return [(round(start, 6), round(end, 6)) for start, end in intervals]  # 3.4, not 3.4000000000000004


def conditions(scenario: Scenario) -> Conditions:
    heard = [u for u in scenario.utterances if u.audible]
    speech = {p: merge((u.start_s, u.end_s) for u in heard if u.party == p) for p in PARTIES}
    everyone = merge(speech["customer"] + speech["assistant"])
    silences: list[Interval] = []
    cursor = 0.0
    for start, end in everyone:
        if start > cursor:
            silences.append((cursor, start))
        cursor = end
    if scenario.duration_s > cursor:
        silences.append((cursor, scenario.duration_s))
    return Conditions(
        duration_s=scenario.duration_s,
        silences=_rounded(silences),
        overlaps=_rounded(overlap_of(speech["customer"], speech["assistant"])),
        turns={p: _rounded(merge(speech[p], TURN_MERGE_GAP_S)) for p in PARTIES},
        spoken=[
            Spoken(party=u.party, start_s=u.start_s, end_s=u.end_s, level_dbfs=u.level_dbfs, text=u.text) for u in heard
        ],
        drop_at_s=scenario.drop_socket_at_s,
        stays_down=scenario.stay_down,
        ended_reason=scenario.ended_reason,
    )
