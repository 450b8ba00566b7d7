"""The fleet inbox: one log across every supervised call, with its own ``seq`` (DESIGN §11).

It holds what an agent watching many calls must not miss: every ``alert``, and ``call.added`` /
``call.ended``, each with the ``call_id`` it concerns (in ``data``). It is an
:class:`~vapi_mcp.listen.events.EventLog` like a call's, on a :class:`~vapi_mcp.store.base.Journal` the store
gives (:meth:`~vapi_mcp.store.local.LocalStore.open_inbox_journal`), so paging, waiting and durability work
the same, and a shared store (Redis, for replicas) only has to provide another journal.
"""

from __future__ import annotations

from typing import Any

from vapi_mcp.listen.analysis import AudioSummary
from vapi_mcp.listen.events import CallEvent, EventLog
from vapi_mcp.store.base import Journal

__all__ = ["INBOX_ID", "INBOX_TYPES", "Inbox", "headline"]

INBOX_ID = "inbox"
"""The inbox's name where a call id would go (its EventLog's ``call_id``; never a Vapi call id's shape)."""

INBOX_TYPES = ("alert", "call.added", "call.ended")


def headline(summary: AudioSummary | None) -> dict[str, Any]:
    """The final summary's headline figures, for ``call.ended``."""
    if summary is None:
        return {}
    return {
        "duration_s": summary.duration_s,
        "talk_ratio": {party: figures.talk_ratio for party, figures in summary.parties.items() if figures.measured},
        "overlap_s": summary.overlap_s,
        "longest_silence_s": summary.longest_silence_s,
        "interruptions": summary.interruptions,
    }


class Inbox:
    """The fleet's one log of alerts and calls coming and going."""

    def __init__(self, journal: Journal | None = None) -> None:
        self.log = EventLog(INBOX_ID, journal=journal)
        self._ended = self._announced_ended()

    def _announced_ended(self) -> set[str]:
        """The calls whose ``call.ended`` the inbox already holds (it survives restarts on its journal)."""
        ended: set[str] = set()
        after = 0
        while after < self.log.latest_seq:
            page = self.log.read(after_seq=after, limit=1000, types=("call.ended",))
            ended.update(str(event.data.get("call_id")) for event in page.events)
            if page.next_seq <= after:
                break
            after = page.next_seq
        return ended

    def alert(self, call_id: str, call_seq: int, alert: dict[str, Any]) -> CallEvent:
        """An ``alert`` event of call ``call_id`` (at ``call_seq`` in its own log)."""
        return self.log.append("alert", {"call_id": call_id, "call_seq": call_seq, **alert})

    def call_added(self, call_id: str, status: str, type_: str | None) -> CallEvent:
        return self.log.append("call.added", {"call_id": call_id, "status": status, "type": type_})

    def call_ended(
        self, call_id: str, ended_reason: str | None, summary: AudioSummary | None, alerts: int
    ) -> CallEvent | None:
        """Announce the call's end, once (None when the inbox already holds it, even from an earlier process)."""
        if call_id in self._ended:
            return None
        self._ended.add(call_id)
        return self.log.append(
            "call.ended", {"call_id": call_id, "endedReason": ended_reason, "alerts": alerts, **headline(summary)}
        )

    def close(self) -> None:
        self.log.close()
