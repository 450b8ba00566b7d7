"""The alert rules of one call, as a pure state machine (DESIGN §11).

:class:`AlertEngine` is fed the call's events (:meth:`~AlertEngine.on_event`), a tick per analysed block of
audio with the call time and the dead air running (:meth:`~AlertEngine.on_audio`), and a wall-clock tick
(:meth:`~AlertEngine.on_wall`) for what happens while no audio flows (a lost listen socket, a long call not
listened to). Each returns the :class:`Alert` values that fired; the caller logs them. No I/O, no clock of its
own but the monotonic one it is given, so tests drive it with plain numbers.

The rules stay together here because they share the engine's running state (the call time, who is speaking,
the re-arm marks); what only one rule uses lives beside it: the audio-quality windows in
:mod:`~vapi_mcp.supervisor.alerts.quality`, the endedReasons that are not alarming
(:data:`~vapi_mcp.supervisor.alerts.config.NORMAL_ENDINGS`) with the rules' configuration.

Times: ``at_s`` is call time, the clock of the events' own ``at_s``/``start_s`` (seconds of the listen
stream, gaps included). An alert's ``at_s`` is when its condition became true, not when it was noticed.
Audio decisions lag the audio by up to a hangover (a voice is known to have stopped ~0.35 s after it did),
so a condition judged on a live tick waits for :data:`DECISION_LAG_S` more audio before it fires; the
events that close a segment or an overlap carry exact times and settle the rest.

Re-arming: an alert fires once per occurrence (one per stretch of dead air, per monologue, per overlap, per
bad audio spell, per lost socket).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from vapi_mcp.listen.analysis import AudioSummary
from vapi_mcp.listen.events import CallEvent
from vapi_mcp.supervisor.alerts.config import (
    NORMAL_ENDINGS,
    AlertRules,
    AudioQuality,
    CallDuration,
    DeadAir,
    EndedAbnormally,
    Keywords,
    ListenLost,
    Monologue,
    RuleParams,
    Severity,
    TalkOver,
)
from vapi_mcp.supervisor.alerts.quality import QualityWindows

__all__ = ["DECISION_LAG_S", "Alert", "AlertEngine"]

DECISION_LAG_S = 0.4
"""How much audio past a moment the analyser needs to be sure who was speaking then (hangover 0.35 s)."""

_LIVE = frozenset({"in-progress", "forwarding"})
_ROLES = {"customer": "customer", "user": "customer", "assistant": "assistant", "bot": "assistant"}
_LISTEN_OVER = frozenset({"call ended", "call over"})  # listen.closed reasons that mean the call ended
_SAME_S = 0.05  # two times this close name the same moment (a segment's or an overlap's start)


@dataclass(frozen=True, slots=True)
class Alert:
    """One firing: the ``alert`` event's data is :meth:`data`."""

    rule: str
    severity: Severity
    message: str
    at_s: float
    details: dict[str, Any]

    def data(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "at_s": self.at_s,
            "details": self.details,
        }


def _s(value: float) -> float:
    return round(value, 3)


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    parts = [r"\s+".join(map(re.escape, phrase.split())) for phrase in phrases if phrase.strip()]
    if not parts:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(parts)})(?!\w)", re.IGNORECASE)


class AlertEngine:
    """The rules of one call over its events and audio ticks; see the module docstring."""

    def __init__(self, rules: AlertRules, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._mono = monotonic
        self._rules: dict[str, RuleParams | None] = {}
        self._keywords: re.Pattern[str] | None = None
        # The call clock: the latest audio tick's call time, or wall time since the call went live.
        self._audio_s: float | None = None
        self._audio_mono = 0.0
        self._live_mono: float | None = None
        self.ended = False
        self._seen_status = False
        self._speaking: dict[str, float] = {}  # party -> start of its open segment (call time)
        # Re-arming memory, one per rule.
        self._dead_air_for: float | None = None  # the silence start already alerted
        self._monologue_for: float | None = None  # the segment start already alerted
        self._overlap_for: float | None = None  # the overlap start already alerted as long
        self._overlaps: deque[float] = deque()  # end times of recent overlaps
        self._duration_fired = False
        self._quality = QualityWindows()
        self._lost: tuple[float, float] | None = None  # (monotonic, call time) when listening was lost
        self._lost_fired = False
        self.configure(rules)

    # ------------------------------------------------------------------ configuration
    @property
    def rules(self) -> AlertRules:
        return self._rules

    def configure(self, rules: AlertRules) -> None:
        """Use these rules from now on (what each rule has already seen and fired is kept)."""
        self._rules = dict(rules)
        keywords = self._rules.get("keywords")
        self._keywords = _phrase_pattern(keywords.phrases) if isinstance(keywords, Keywords) else None

    def _on(self, name: str) -> Any:
        return self._rules.get(name)

    # ------------------------------------------------------------------ the clock
    def now_s(self) -> float:
        """Call time now: the latest audio tick's, carried on by the wall clock since."""
        mono = self._mono()
        if self._audio_s is not None:
            return self._audio_s + max(0.0, mono - self._audio_mono)
        if self._live_mono is not None:
            return mono - self._live_mono
        return 0.0

    def sync(self, now_s: float) -> None:
        """The stream's exact call time now (audio received so far), for an event that carries none."""
        self._audio_s, self._audio_mono = now_s, self._mono()

    # ------------------------------------------------------------------ feeds
    def on_event(self, event: CallEvent) -> list[Alert]:
        """One event of the call's log (the engine's own ``alert`` events are ignored)."""
        handler = _HANDLERS.get(event.type)
        if handler is None:
            return []
        out: list[Alert] = []
        handler(self, event.data, out)
        return out

    def on_audio(
        self, now_s: float, silence_since_s: float | None, summary: Callable[[], AudioSummary] | None = None
    ) -> list[Alert]:
        """A block of audio was analysed: call time ``now_s``; dead air since ``silence_since_s`` (None: voice).

        ``summary`` gives the audio summary; it is asked for once per audio-quality window only.
        """
        self._audio_s, self._audio_mono = now_s, self._mono()
        out: list[Alert] = []
        if not self.ended:
            self._dead_air(now_s, silence_since_s, out)
            self._monologue_live(now_s, out)
            self._long_overlap_live(now_s, out)
            self._call_duration(now_s, out)
            if summary is not None:
                self._audio_quality(now_s, summary, out)
        return out

    def on_wall(self) -> list[Alert]:
        """A wall-clock tick (about twice a second): the rules that need no audio."""
        out: list[Alert] = []
        if not self.ended:
            self._call_duration(self.now_s(), out)
            self._listen_lost(out)
        return out

    # ------------------------------------------------------------------ event handlers
    def _status(self, data: dict[str, Any], out: list[Alert]) -> None:
        status = data.get("status")
        seen, self._seen_status = self._seen_status, True
        if status in _LIVE and self._live_mono is None:
            self._live_mono = self._mono()
        if status != "ended" or self.ended:
            return
        self.ended = True
        self._lost = None
        reason = data.get("endedReason")
        params = self._on("ended_abnormally")
        if not seen:
            return  # supervised once already over: nothing to alert anyone about now
        if isinstance(params, EndedAbnormally) and isinstance(reason, str) and reason not in NORMAL_ENDINGS:
            out.append(
                Alert(
                    "ended_abnormally",
                    params.severity,
                    f"the call ended with {reason}",
                    _s(self.now_s()),
                    {"ended_reason": reason},
                )
            )

    def _speech_started(self, data: dict[str, Any], out: list[Alert]) -> None:
        party, at = data.get("party"), data.get("at_s")
        if isinstance(party, str) and isinstance(at, int | float):
            self._speaking[party] = float(at)

    def _speech_stopped(self, data: dict[str, Any], out: list[Alert]) -> None:
        party, end, duration = data.get("party"), data.get("at_s"), data.get("duration_s")
        if not isinstance(party, str):
            return
        self._speaking.pop(party, None)
        params = self._on("monologue")
        if isinstance(params, Monologue) and party == params.party and isinstance(end, int | float):
            if isinstance(duration, int | float) and duration >= params.after_s:
                self._fire_monologue(params, float(end) - float(duration), out)

    def _overlap(self, data: dict[str, Any], out: list[Alert]) -> None:
        params = self._on("talk_over")
        start, duration = data.get("start_s"), data.get("duration_s")
        if (
            not isinstance(params, TalkOver)
            or not isinstance(start, int | float)
            or not isinstance(duration, int | float)
        ):
            return
        if duration >= params.overlap_s:
            self._fire_long_overlap(params, float(start), out)
        end = float(start) + float(duration)
        self._overlaps.append(end)
        while self._overlaps and self._overlaps[0] < end - params.within_s:
            self._overlaps.popleft()
        if len(self._overlaps) >= params.count:
            n = len(self._overlaps)
            self._overlaps.clear()
            out.append(
                Alert(
                    "talk_over",
                    params.severity,
                    f"{n} overlaps within {params.within_s:g} s",
                    _s(end),
                    {"count": n, "within_s": params.within_s},
                )
            )

    def _transcript(self, data: dict[str, Any], out: list[Alert]) -> None:
        params = self._on("keywords")
        text, role = data.get("text"), _ROLES.get(str(data.get("role")).lower())
        if self._keywords is None or not isinstance(params, Keywords) or data.get("final") is False:
            return
        if not isinstance(text, str) or role not in params.roles:
            return
        found = list(dict.fromkeys(match.group(0).lower() for match in self._keywords.finditer(text)))
        if found:
            out.append(
                Alert(
                    "keywords",
                    params.severity,
                    f"the {role} said {', '.join(map(repr, found))}",
                    _s(self.now_s()),
                    {"phrases": found, "role": role, "text": text[:300]},
                )
            )

    def _listen_connected(self, data: dict[str, Any], out: list[Alert]) -> None:
        self._lost, self._lost_fired = None, False

    def listening_stopped(self) -> None:
        """Listening was stopped on purpose (stop_listening): a socket down since is not lost."""
        self._lost, self._lost_fired = None, False

    def _listen_down(self, data: dict[str, Any], out: list[Alert]) -> None:
        if self.ended or data.get("reason") in _LISTEN_OVER or self._lost is not None:
            return
        self._lost = (self._mono(), self.now_s() if self._audio_s is None else self._audio_s)

    # ------------------------------------------------------------------ rules judged on ticks
    def _dead_air(self, now: float, since: float | None, out: list[Alert]) -> None:
        params = self._on("dead_air")
        if not isinstance(params, DeadAir) or since is None:
            return
        if now - since >= params.after_s + DECISION_LAG_S and self._dead_air_for != since:
            self._dead_air_for = since
            out.append(
                Alert(
                    "dead_air",
                    params.severity,
                    f"nobody has spoken for {params.after_s:g} s",
                    _s(since + params.after_s),
                    {"silence_start_s": _s(since), "after_s": params.after_s},
                )
            )

    def _monologue_live(self, now: float, out: list[Alert]) -> None:
        params = self._on("monologue")
        if not isinstance(params, Monologue):
            return
        start = self._speaking.get(params.party)
        if start is not None and now - start >= params.after_s + DECISION_LAG_S:
            self._fire_monologue(params, start, out)

    def _fire_monologue(self, params: Monologue, start: float, out: list[Alert]) -> None:
        if self._monologue_for is not None and abs(self._monologue_for - start) < _SAME_S:
            return
        self._monologue_for = start
        out.append(
            Alert(
                "monologue",
                params.severity,
                f"the {params.party} has spoken for {params.after_s:g} s without a break",
                _s(start + params.after_s),
                {"party": params.party, "start_s": _s(start)},
            )
        )

    def _long_overlap_live(self, now: float, out: list[Alert]) -> None:
        params = self._on("talk_over")
        if not isinstance(params, TalkOver) or len(self._speaking) < 2:
            return
        start = max(self._speaking.values())
        if now - start >= params.overlap_s + DECISION_LAG_S:
            self._fire_long_overlap(params, start, out)

    def _fire_long_overlap(self, params: TalkOver, start: float, out: list[Alert]) -> None:
        if self._overlap_for is not None and abs(self._overlap_for - start) < _SAME_S:
            return
        self._overlap_for = start
        out.append(
            Alert(
                "talk_over",
                params.severity,
                f"both parties talked at once for {params.overlap_s:g} s",
                _s(start + params.overlap_s),
                {"start_s": _s(start), "overlap_s": params.overlap_s},
            )
        )

    def _call_duration(self, now: float, out: list[Alert]) -> None:
        params = self._on("call_duration")
        if isinstance(params, CallDuration) and not self._duration_fired and now >= params.after_s:
            if self._audio_s is None and self._live_mono is None:
                return  # not live yet: no call time
            self._duration_fired = True
            out.append(
                Alert(
                    "call_duration",
                    params.severity,
                    f"the call has lasted {params.after_s:g} s",
                    _s(params.after_s),
                    {"after_s": params.after_s},
                )
            )

    def _listen_lost(self, out: list[Alert]) -> None:
        params = self._on("listen_lost")
        if not isinstance(params, ListenLost) or self._lost is None or self._lost_fired:
            return
        lost_mono, lost_s = self._lost
        if self._mono() - lost_mono >= params.after_s:
            self._lost_fired = True
            out.append(
                Alert(
                    "listen_lost",
                    params.severity,
                    f"listening has been down for {params.after_s:g} s",
                    _s(lost_s + params.after_s),
                    {"lost_at_s": _s(lost_s), "after_s": params.after_s},
                )
            )

    def _audio_quality(self, now: float, summary: Callable[[], AudioSummary], out: list[Alert]) -> None:
        params = self._on("audio_quality")
        if not isinstance(params, AudioQuality):
            return
        for found in self._quality.judge(params, now, summary):
            out.append(
                Alert(
                    "audio_quality",
                    params.severity,
                    f"the {found.party}'s speech {found.problem}",
                    _s(found.end_s),
                    {
                        "party": found.party,
                        "mean_dbfs": round(found.mean_dbfs, 1),
                        "clipping_ratio": round(found.clipping_ratio, 4),
                        "window_s": params.window_s,
                    },
                )
            )


_HANDLERS: dict[str, Callable[[AlertEngine, dict[str, Any], list[Alert]], None]] = {
    "call.status": AlertEngine._status,  # pyright: ignore[reportPrivateUsage]
    "speech.started": AlertEngine._speech_started,  # pyright: ignore[reportPrivateUsage]
    "speech.stopped": AlertEngine._speech_stopped,  # pyright: ignore[reportPrivateUsage]
    "overlap": AlertEngine._overlap,  # pyright: ignore[reportPrivateUsage]
    "transcript": AlertEngine._transcript,  # pyright: ignore[reportPrivateUsage]
    "listen.connected": AlertEngine._listen_connected,  # pyright: ignore[reportPrivateUsage]
    "listen.reconnecting": AlertEngine._listen_down,  # pyright: ignore[reportPrivateUsage]
    "listen.closed": AlertEngine._listen_down,  # pyright: ignore[reportPrivateUsage]
}
