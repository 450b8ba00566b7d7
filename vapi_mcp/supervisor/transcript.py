"""A call's transcript as text, built from its transcript events and kept up to date cheaply."""

from __future__ import annotations

from collections import deque
from typing import Any

from vapi_mcp.listen.events import EventLog

__all__ = ["TranscriptCache", "conversation_text"]

_SPEAKERS = {"user": "customer", "customer": "customer", "bot": "assistant", "assistant": "assistant"}


def conversation_text(messages: list[dict[str, Any]]) -> str:
    """Vapi's conversation (``conversation-update`` / the report's ``artifact.messages``) as 'role: text' lines.

    System prompts and tool calls are left out: the transcript is what was said.
    """
    lines: list[str] = []
    for item in messages:
        speaker = _SPEAKERS.get(str(item.get("role")))
        text = item.get("message", item.get("content"))
        if speaker is not None and isinstance(text, str) and text.strip():
            lines.append(f"{speaker}: {text}\n")
    return "".join(lines)


class TranscriptCache:
    """The transcript of one call, kept as it grows: each read scans only the events logged since the last.

    Rescanning the whole journal on every read cost seconds on a long call (300k events). The text kept is
    bounded (``max_chars``): past it the oldest lines give way, and the transcript says how many.
    """

    def __init__(self, max_chars: int = 2_000_000) -> None:
        self.max_chars = max_chars
        self._after = 0
        self._lines: deque[str] = deque()
        self._chars = 0
        self._omitted = 0

    def read(self, log: EventLog) -> str:
        while True:
            page = log.read(after_seq=self._after, limit=1000, types=["transcript"])
            for event in page.events:
                if event.data.get("final"):
                    self._add(f"{event.data['role']}: {event.data['text']}\n")
            done = page.next_seq <= self._after or page.next_seq >= page.latest_seq
            self._after = max(self._after, page.next_seq)
            if done:
                break
        head = f"[{self._omitted} earlier lines omitted; get_call_events has them all]\n" if self._omitted else ""
        return head + "".join(self._lines)

    def _add(self, line: str) -> None:
        self._lines.append(line)
        self._chars += len(line)
        while self._chars > self.max_chars and len(self._lines) > 1:
            self._chars -= len(self._lines.popleft())
            self._omitted += 1
