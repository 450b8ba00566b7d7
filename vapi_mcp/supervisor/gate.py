"""Which transcripts reach a call's log when two sources carry them (DESIGN §12), pure and synchronous.

Vapi can send the same transcript twice: as a text frame on the listen socket and as a ``transcript`` server
message. A final line is logged once, whichever source brings it first. Partial transcripts by webhook come
a few words at a time (one message per word is common): they are coalesced, so a role's partial is logged at
most once per ``partial_interval_s`` and never twice with the same text; a final line supersedes them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

__all__ = ["PARTIAL_INTERVAL_S", "TranscriptGate"]

PARTIAL_INTERVAL_S = 1.0
"""A role's webhook partials are logged at most this often."""

Source = Literal["listen", "webhook"]


def _key(role: str, text: str) -> tuple[str, str]:
    return role, " ".join(text.split()).casefold()


class TranscriptGate:
    """Remembers the last ``memory`` final lines and each role's last partial."""

    def __init__(
        self,
        *,
        partial_interval_s: float = PARTIAL_INTERVAL_S,
        memory: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.partial_interval_s = partial_interval_s
        self.memory = memory
        self._clock = clock
        self._finals: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._partials: dict[str, tuple[str, float]] = {}
        self.duplicates = 0  # final lines dropped because the other source had logged them

    def accept(self, role: str, text: str, final: bool, source: Source = "webhook") -> bool:
        """True when this transcript should be logged (and it is then remembered as logged)."""
        if final:
            key = _key(role, text)
            self._partials.pop(role, None)
            if key in self._finals:
                self._finals.move_to_end(key)
                self.duplicates += 1
                return False
            self._finals[key] = None
            while len(self._finals) > self.memory:
                self._finals.popitem(last=False)
            return True
        now = self._clock()
        last = self._partials.get(role)
        if last is not None and last[0] == text:
            return False
        if source == "webhook" and last is not None and now - last[1] < self.partial_interval_s:
            return False
        self._partials[role] = (text, now)
        return True

    def accept_listen(self, role: str, text: str, final: bool) -> bool:
        """:meth:`accept` for the listen socket (the pipeline's ``accept_transcript`` hook)."""
        return self.accept(role, text, final, "listen")
