"""The one way the supervisor reports changes outward.

The MCP face implements :class:`CallObserver` and turns each notice into coalesced resource
notifications; the supervisor never knows who listens. Notices are synchronous and cheap: they
may come from the audio hot path, so an observer only records what changed and returns.
"""

from __future__ import annotations

from typing import Literal, Protocol

__all__ = ["EVENT_ASPECTS", "Aspect", "CallObserver", "NullObserver"]

Aspect = Literal["call", "events", "audio-summary", "transcript", "recording", "report"]
"""Which view of one call changed: each maps to one resource of that call."""


class CallObserver(Protocol):
    """Told when a supervised call, or the set of supervised calls, changes."""

    def call_changed(self, call_id: str, aspects: tuple[Aspect, ...], *, from_log: bool = False) -> None:
        """Views ``aspects`` of call ``call_id`` changed (re-read them). ``from_log``: the change comes from an
        event taken into the call's log; with replicas every replica takes that event, so each tells its own
        clients and nothing needs to cross Redis (DESIGN §13)."""
        ...

    def calls_changed(self) -> None:
        """A call was added to the supervised set, or ended."""
        ...

    def inbox_changed(self) -> None:
        """The fleet inbox has a new event (taken into the inbox's log: with replicas, by every replica)."""
        ...


class NullObserver:
    """The observer of a supervisor nobody watches (tests, scripts)."""

    def call_changed(self, call_id: str, aspects: tuple[Aspect, ...], *, from_log: bool = False) -> None:
        return None

    def calls_changed(self) -> None:
        return None

    def inbox_changed(self) -> None:
        return None


EVENT_ASPECTS: dict[str, tuple[Aspect, ...]] = {
    "call.status": ("events", "call"),
    "listen.connected": ("events", "call"),
    "listen.reconnecting": ("events", "call"),
    "listen.closed": ("events", "call"),
    "listen.gap": ("events", "audio-summary"),
    "transcript": ("events", "transcript"),
    "speech.started": ("events", "audio-summary"),
    "speech.stopped": ("events", "audio-summary"),
    "silence": ("events", "audio-summary"),
    "overlap": ("events", "audio-summary"),
    "call.report": ("events", "report"),
}
"""Which views an event of each type changes; any other type changes the event log only."""
