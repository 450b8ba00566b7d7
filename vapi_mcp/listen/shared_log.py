"""A call's event log shared by replicas through Redis (DESIGN §13).

Same reading interface as :class:`~vapi_mcp.listen.events.EventLog` (the window in memory, the journal for
older events: here the call's Redis Stream), but appending works differently: any replica may append to any
call's log, so the seq cannot be taken locally. :meth:`SharedEventLog.append` hands the event to Redis, which
numbers it; the numbered event comes back on the events channel to every replica, the appending one
included, and :meth:`SharedEventLog.take` puts it in the window and tells the listeners. Every replica thus
sees the same events under the same seqs, strictly increasing.

``append`` returns the event *unnumbered* (``seq == 0``): its seq is known once Redis has numbered it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from vapi_mcp.listen.eventdata import event_type, serialize, timestamp
from vapi_mcp.listen.events import DEFAULT_WINDOW, CallEvent, EventLog
from vapi_mcp.store.shared.stream import StreamJournal

__all__ = ["SharedEventLog", "Submit"]

logger = logging.getLogger(__name__)

Submit = Callable[[str, str, str, str, int], None]
"""``submit(call_id, at, type_json, data_json, floor)``: queue an event for Redis to number (never blocks)."""


class SharedEventLog(EventLog):
    """The log of one call on one replica, fed by the call's Redis Stream."""

    def __init__(
        self,
        call_id: str,
        *,
        journal: StreamJournal,
        submit: Submit,
        window: int = DEFAULT_WINDOW,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(call_id, journal=journal, window=window, clock=clock)
        self._stream = journal
        self._submit = submit
        self.gaps = 0  # times events arrived after a hole (pub/sub lost some: they stay readable from the stream)

    def append(self, type: str, data: Mapping[str, Any] | None = None) -> CallEvent:
        """Queue the event for Redis; it reaches the window and the listeners once numbered (:meth:`take`)."""
        clean, text = serialize(data)
        type, type_text = event_type(type)
        at = timestamp(self._clock)
        self._submit(self.call_id, at, type_text, text, self._seq)
        return CallEvent.model_construct(seq=0, at=at, type=type, data=clean)  # checked by serialize, unnumbered

    def take(self, record: Mapping[str, Any]) -> CallEvent | None:
        """Take in one numbered event from the stream; an old or repeated seq is ignored (None)."""
        try:
            event = CallEvent.model_validate(record)
        except ValidationError:
            logger.warning("call %s: an event from Redis is not an event; skipped", self.call_id)
            return None
        if event.seq <= self._seq:
            return None
        if event.seq != self._seq + 1:
            self.gaps += 1
            self._window.clear()  # the window holds consecutive seqs; the hole is read from the stream
        self._seq = event.seq
        self._stream.held(event.seq)
        self._window.append(event)
        self._tell(event)
        return event

    def take_all(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.take(record)
