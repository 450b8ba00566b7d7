"""Audio summaries shared between replicas on demand (DESIGN §13).

Only a call's owner measures its audio. A replica asked for a live call's summary asks the owner
(``watch <call id>`` on the commands channel) and waits for the push, up to ``ASK_WAIT_S``; the owner then
pushes that call's summary to the call's hash once a second for ``WATCH_S`` (every due call in one round
trip), and once more when the call is over. A call nobody elsewhere looks at costs Redis nothing per second,
however long it runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from pydantic import ValidationError

from vapi_mcp.store.shared.channel import Channel
from vapi_mcp.store.shared.fleet import Fleet
from vapi_mcp.store.shared.link import REDIS_ERRORS, RedisLink
from vapi_mcp.supervisor.calls import SupervisedCall
from vapi_mcp.supervisor.views import AudioSummary, ListenState

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ASK_WAIT_S", "WATCH_S", "SharedSummaries"]

WATCH_S = 60.0
"""After a replica asks for a call's audio summary, the owner pushes it (≤ 1 per second) this long."""
ASK_WAIT_S = 1.5
"""How long a reader waits for the owner's push before answering with what the hash holds."""
_FIELDS = ("summary", "summary_at")


class SharedSummaries:
    """One replica's side of summary sharing: the owner's pushes and the reader's asks."""

    def __init__(
        self,
        link: RedisLink,
        fleet: Fleet,
        channel: Channel,
        *,
        owned: set[str],
        calls: Callable[[], Mapping[str, SupervisedCall]],
    ) -> None:
        self.link = link
        self.fleet = fleet
        self.channel = channel
        self._owned = owned  # the replica's set of owned calls (shared, not copied)
        self._calls = calls
        self.watched: dict[str, float] = {}  # owned calls another replica asked for, until when (monotonic)
        self.due: set[str] = set()  # watched calls whose summary changed since the last push
        self.pushes = 0  # summaries written to Redis (diagnostics, tests)
        self._push_now = anyio.Event()
        self._asked: dict[str, float] = {}  # calls whose owner this replica asked, until when

    # ------------------------------------------------------------------ the owner's side
    def changed(self, call_id: str) -> None:
        """The owner's summary of ``call_id`` changed: pushed at the next round if someone watches it."""
        if call_id in self.watched:
            self.due.add(call_id)

    def watch(self, call_id: str) -> None:
        """Another replica asked for an owned call's summary: push it now, then every second for a while."""
        if call_id in self._owned:
            self.watched[call_id] = time.monotonic() + WATCH_S
            self.due.add(call_id)
            self._push_now.set()

    async def run(self) -> None:
        """Push the watched summaries that changed, at most once a second, all in one round trip."""
        while True:
            with anyio.move_on_after(1.0):
                await self._push_now.wait()
            self._push_now = anyio.Event()
            now = time.monotonic()
            self.watched = {c: until for c, until in self.watched.items() if until > now and c in self._owned}
            due, self.due = self.due, set()
            fields = {c: f for c in due if c in self.watched and (f := self._fields(c)) is not None}
            try:
                await self.fleet.put_many(fields)
                self.pushes += len(fields)
            except REDIS_ERRORS as exc:
                self.link.failed("sharing an audio summary", exc)
                self.due |= fields.keys()
            await anyio.sleep(0.1)  # a burst of asks makes one push

    async def push_final(self, sup: SupervisedCall) -> None:
        """The summary of a call that is over (its owner gives its lease up), for every replica."""
        fields = self._fields(sup.call_id)
        if fields is not None:
            await self.fleet.put_many({sup.call_id: fields})
            self.pushes += 1

    def _fields(self, call_id: str) -> dict[str, str] | None:
        sup = self._calls().get(call_id)
        summary = sup.summary_here() if sup is not None else None
        if summary is None:
            return None
        text = summary.model_dump_json(exclude={"listen_state"})
        return {"summary": text, "summary_at": f"{time.time():.3f}", "recorder": self.link.replica}

    # ------------------------------------------------------------------ the reader's side
    async def read(self, call_id: str, listen_state: ListenState) -> AudioSummary | None:
        """The owner's summary of a call from its hash. While the owner listens, ask it to share the summary
        first (unless asked in the last ``WATCH_S / 2``) and wait for its push, up to ``ASK_WAIT_S``."""
        try:
            fields = await self.fleet.fields(call_id, *_FIELDS)
            now = time.monotonic()
            if listen_state in ("connected", "reconnecting") and self._asked.get(call_id, 0.0) <= now:
                self._ask(call_id, now)
                before = fields.get("summary_at")
                if await self.channel.publish("commands", f"watch {call_id}"):
                    with anyio.move_on_after(ASK_WAIT_S):
                        while fields.get("summary_at") == before:
                            await anyio.sleep(0.05)
                            fields = await self.fleet.fields(call_id, *_FIELDS)
        except REDIS_ERRORS as exc:
            self.link.failed("reading an audio summary", exc)
            return None
        if "summary" not in fields:
            return None
        try:
            return AudioSummary.model_validate({**json.loads(fields["summary"]), "listen_state": listen_state})
        except (ValueError, ValidationError):
            return None

    def _ask(self, call_id: str, now: float) -> None:
        if len(self._asked) > 1000:
            self._asked = {c: until for c, until in self._asked.items() if until > now}
        self._asked[call_id] = now + WATCH_S / 2
