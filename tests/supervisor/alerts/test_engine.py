"""The alert rules as a pure state machine: fed events and ticks by hand, no sockets, no clock but ours."""

from __future__ import annotations

from typing import Any

import pytest

from vapi_mcp.listen.analysis import AudioSummary, PartySummary
from vapi_mcp.listen.events import CallEvent
from vapi_mcp.supervisor.alerts.config import default_rules, merge_rules
from vapi_mcp.supervisor.alerts.engine import DECISION_LAG_S, Alert, AlertEngine


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Feed:
    """An engine with a hand-driven monotonic clock, and every alert it fired."""

    def __init__(self, change: dict[str, Any] | None = None) -> None:
        self.clock = Clock()
        self.engine = AlertEngine(merge_rules(default_rules(), change), monotonic=self.clock)
        self.alerts: list[Alert] = []
        self.seq = 0

    def event(self, type_: str, **data: Any) -> list[Alert]:
        self.seq += 1
        fired = self.engine.on_event(CallEvent(seq=self.seq, at="2026-01-01T00:00:00.000Z", type=type_, data=data))
        self.alerts += fired
        return fired

    def audio(self, now_s: float, silence_since: float | None, summary: AudioSummary | None = None) -> list[Alert]:
        self.clock.now = 100.0 + now_s
        fired = self.engine.on_audio(now_s, silence_since, (lambda: summary) if summary is not None else None)
        self.alerts += fired
        return fired

    def wall(self, advance_s: float) -> list[Alert]:
        self.clock.now += advance_s
        fired = self.engine.on_wall()
        self.alerts += fired
        return fired

    def rules(self) -> list[str]:
        return [alert.rule for alert in self.alerts]


def live(change: dict[str, Any] | None = None) -> Feed:
    feed = Feed(change)
    feed.event("call.status", status="in-progress", endedReason=None)
    return feed


def test_dead_air_fires_once_per_stretch_at_the_moment_it_became_true() -> None:
    feed = live()
    for second in range(1, 12):  # silent from 2.0 on: due at 6.0, judged once the lag has passed
        feed.audio(float(second), 2.0 if second >= 2 else None)
    assert feed.rules() == ["dead_air"]
    alert = feed.alerts[0]
    assert alert.at_s == 6.0 and alert.severity == "warning" and alert.details["silence_start_s"] == 2.0
    assert alert.message == "nobody has spoken for 4 s"
    feed.audio(12.0, None)  # someone speaks: the rule re-arms
    for second in range(13, 20):
        feed.audio(float(second), 12.5)
    assert feed.rules() == ["dead_air", "dead_air"] and feed.alerts[1].at_s == 16.5


def test_dead_air_waits_for_the_decision_lag() -> None:
    feed = live()
    assert feed.audio(4.0 + DECISION_LAG_S / 2, 0.0) == []  # a voice may still be confirmed before 4.0
    assert [a.at_s for a in feed.audio(5.0, 0.0)] == [4.0]


def test_a_shorter_silence_never_fires() -> None:
    feed = live()
    for second in range(1, 30):
        feed.audio(float(second), float(second // 3 * 3) if second % 3 else None)  # 3 s stretches at most
    assert feed.alerts == []


def test_talk_over_long_overlap_live_then_settled_by_the_overlap_event() -> None:
    feed = live()
    feed.event("speech.started", party="assistant", at_s=1.0)
    feed.event("speech.started", party="customer", at_s=2.0)
    feed.audio(3.0, None)
    assert feed.alerts == []
    feed.audio(4.0, None)  # both since 2.0: 1.5 s reached at 3.5, sure by 3.9
    assert feed.rules() == ["talk_over"] and feed.alerts[0].at_s == 3.5
    feed.event("speech.stopped", party="customer", at_s=5.0, duration_s=3.0)
    feed.event("overlap", start_s=2.0, duration_s=3.0, interrupter="customer")  # the same overlap: no second alert
    assert feed.rules() == ["talk_over"]


def test_talk_over_count_within_window_then_rearms() -> None:
    feed = live({"talk_over": {"overlap_s": 10}})
    for start in (1.0, 5.0):
        feed.event("overlap", start_s=start, duration_s=0.5, interrupter="customer")
    assert feed.alerts == []
    feed.event("overlap", start_s=9.0, duration_s=0.5, interrupter="customer")
    assert feed.rules() == ["talk_over"] and feed.alerts[0].at_s == 9.5 and feed.alerts[0].details["count"] == 3
    feed.event("overlap", start_s=12.0, duration_s=0.5, interrupter="customer")
    assert len(feed.alerts) == 1  # counting starts again after an alert
    feed.event("overlap", start_s=100.0, duration_s=0.5, interrupter="customer")
    feed.event("overlap", start_s=140.0, duration_s=0.5, interrupter="customer")
    assert len(feed.alerts) == 1  # spread over more than 30 s


def test_monologue_live_and_from_the_closing_event() -> None:
    feed = live({"monologue": {"after_s": 10}})
    feed.event("speech.started", party="assistant", at_s=1.0)
    feed.audio(11.2, None)
    assert feed.alerts == []
    feed.audio(12.0, None)
    assert feed.rules() == ["monologue"] and feed.alerts[0].at_s == 11.0
    feed.event("speech.stopped", party="assistant", at_s=20.0, duration_s=19.0)
    assert len(feed.alerts) == 1
    # A monologue that ended between two ticks is caught by its speech.stopped.
    feed.event("speech.started", party="assistant", at_s=30.0)
    feed.event("speech.stopped", party="assistant", at_s=40.2, duration_s=10.2)
    assert [a.at_s for a in feed.alerts] == [11.0, 40.0]
    feed.event("speech.started", party="customer", at_s=50.0)  # not the watched party
    feed.audio(70.0, None)
    assert len(feed.alerts) == 2


def test_keywords_whole_words_case_insensitive_final_only() -> None:
    feed = live({"keywords": {"phrases": ["cancel my account", "lawyer"]}})
    feed.event("transcript", role="customer", text="I want to CANCEL  my account now", final=True)
    feed.event("transcript", role="customer", text="my lawyers will hear", final=True)  # not a whole word
    feed.event("transcript", role="customer", text="lawyer", final=False)  # partial
    feed.event("transcript", role="assistant", text="a lawyer", final=True)  # not a watched role
    feed.event("transcript", role="user", text="Get me a lawyer.", final=True)  # Vapi's name for the customer
    assert feed.rules() == ["keywords", "keywords"]
    assert feed.alerts[0].details["phrases"] == ["cancel  my account"]
    assert feed.alerts[1].details["phrases"] == ["lawyer"] and feed.alerts[1].message == "the customer said 'lawyer'"


def test_no_phrases_no_keyword_alerts() -> None:
    feed = live()
    feed.event("transcript", role="customer", text="cancel everything", final=True)
    assert feed.alerts == []


def test_call_duration_once_by_audio_or_wall_clock() -> None:
    feed = live({"call_duration": {"after_s": 5}})
    feed.audio(4.0, None)
    assert feed.alerts == []
    feed.wall(1.5)  # 4.0 + 1.5 s since the last audio
    assert feed.rules() == ["call_duration"] and feed.alerts[0].at_s == 5.0 and feed.alerts[0].severity == "info"
    feed.audio(9.0, None)
    feed.wall(1.0)
    assert len(feed.alerts) == 1


def test_call_duration_without_audio_counts_from_in_progress() -> None:
    feed = Feed({"call_duration": {"after_s": 3}})
    feed.wall(10)  # not live yet
    assert feed.alerts == []
    feed.event("call.status", status="in-progress", endedReason=None)
    feed.wall(2)
    assert feed.alerts == []
    feed.wall(1.5)
    assert feed.rules() == ["call_duration"]


def test_listen_lost_fires_after_the_socket_stayed_down() -> None:
    feed = live({"listen_lost": {"after_s": 10}})
    feed.audio(5.0, None)
    feed.event("listen.reconnecting", code=1006, attempt=1)
    feed.wall(6)
    feed.event("listen.connected", attempt=2)  # back within 10 s: nothing
    feed.wall(6)
    assert feed.alerts == []
    feed.audio(20.0, None)
    feed.event("listen.reconnecting", code=1006, attempt=1)
    feed.event("listen.closed", code=None, reason="too many failed reconnects")
    feed.wall(9.9)
    assert feed.alerts == []
    feed.wall(0.2)
    assert feed.rules() == ["listen_lost"] and feed.alerts[0].at_s == 30.0 and feed.alerts[0].severity == "critical"
    feed.wall(30)
    assert len(feed.alerts) == 1


def test_listening_stopped_on_purpose_is_not_lost() -> None:
    feed = live({"listen_lost": {"after_s": 1}})
    feed.audio(5.0, None)
    feed.event("listen.reconnecting", code=1006, attempt=1)
    feed.engine.listening_stopped()
    feed.wall(5)
    assert feed.alerts == []


def test_listen_closed_because_the_call_ended_is_not_lost() -> None:
    feed = live({"listen_lost": {"after_s": 1}})
    feed.audio(5.0, None)
    feed.event("listen.closed", code=1000, reason="call ended")
    feed.wall(5)
    assert feed.alerts == []


@pytest.mark.parametrize(
    ("reason", "fires"),
    [
        ("customer-ended-call", False),
        ("assistant-forwarded-call", False),
        ("voicemail", False),
        ("pipeline-error-openai-llm-failed", True),
        ("call.in-progress.error-vapifault-transport-never-connected", True),
        (None, False),
    ],
)
def test_ended_abnormally(reason: str | None, fires: bool) -> None:
    feed = live()
    feed.event("call.status", status="ended", endedReason=reason)
    assert feed.rules() == (["ended_abnormally"] if fires else [])
    if fires:
        assert reason in feed.alerts[0].message and feed.alerts[0].details == {"ended_reason": reason}
    feed.wall(1000)
    feed.audio(2000.0, 0.0)
    assert len(feed.alerts) == int(fires), "nothing fires once the call is over"


def test_a_call_first_seen_ended_raises_nothing() -> None:
    feed = Feed()
    feed.event("call.status", status="ended", endedReason="pipeline-error-openai-llm-failed")
    assert feed.alerts == []


def _summary(duration: float, talk: float, mean_dbfs: float, clipping: float) -> AudioSummary:
    party = PartySummary(
        talk_s=talk,
        talk_ratio=talk / duration,
        turns=1,
        mean_dbfs=mean_dbfs,
        peak_dbfs=-1.0,
        clipping_ratio=clipping,
        speaking=False,
        measured=True,
        noise_floor_dbfs=-60.0,
    )
    return AudioSummary(
        call_id="c",
        sample_rate=16000,
        channels=2,
        duration_s=duration,
        parties={"customer": party, "assistant": party.model_copy(update={"mean_dbfs": -24.0, "clipping_ratio": 0.0})},
        overlap_s=0.0,
        longest_silence_s=0.0,
        current_silence_s=0.0,
        interruptions=0,
        segments=[],
        sparkline={},
        gaps_s=0.0,
        finished=False,
    )


def test_audio_quality_per_window_and_rearms_on_a_good_window() -> None:
    feed = live({"audio_quality": {"window_s": 10}})
    feed.audio(1.0, None, _summary(1.0, 0.5, -24.0, 0.0))
    feed.audio(10.0, None, _summary(10.0, 5.0, -24.0, 0.0))  # a good first window
    assert feed.alerts == []
    # Window 2: 5 s more customer speech, the cumulative mean drops to -30 dBFS: its own level is about -60.
    feed.audio(20.0, None, _summary(20.0, 10.0, -27.0, 0.0))
    assert feed.rules() == ["audio_quality"]
    alert = feed.alerts[0]
    assert alert.at_s == 20.0 and alert.details["party"] == "customer" and alert.details["mean_dbfs"] < -50
    feed.audio(30.0, None, _summary(30.0, 15.0, -28.0, 0.0))  # still quiet: no second alert
    assert len(feed.alerts) == 1
    feed.audio(40.0, None, _summary(40.0, 20.0, -26.0, 0.0))  # loud again: re-armed
    # Clipping: 2 % of 5 s of speech clipped in window 5 (0.1 s over a 50 s call).
    feed.audio(50.0, None, _summary(50.0, 25.0, -24.0, 0.1 / 50))
    assert feed.rules() == ["audio_quality", "audio_quality"] and "clips" in feed.alerts[1].message


def test_off_rules_and_live_reconfiguration() -> None:
    feed = live({"dead_air": False})
    for second in range(1, 10):
        feed.audio(float(second), 0.0)
    assert feed.alerts == []
    feed.engine.configure(merge_rules(feed.engine.rules, {"dead_air": {"after_s": 2}}))
    feed.audio(10.0, 0.0)
    assert [a.at_s for a in feed.alerts] == [2.0]
