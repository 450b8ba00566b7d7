"""Replicas: this server's share of a fleet kept in Redis (DESIGN §13, ``VAPI_MCP_REDIS_URL``).

Every replica holds every live call of the fleet: the calls it *owns* (it holds the call's lease: it polls
the status and listens) and mirrors of the others, whose event logs are fed from Redis
(:class:`~vapi_mcp.listen.shared_log.SharedEventLog`), so any replica answers any tool or resource for any
call, and control works from any replica (the control URL is in the call's hash).

A background round every quarter of the lease's life renews the leases this replica holds (a lost one stops
its listening here), adopts the calls other replicas added, catches up any log that missed events on the
channel (one read of every log's counter says which), and takes over a live call whose owner stopped
renewing: it appends ``listen.gap`` and listens again. Only the owner measures a call's audio; it shares
the summary when another replica asks (:mod:`vapi_mcp.supervisor.summaries`).

Redis down: what this replica holds keeps being served, appends queue, every loop retries with backoff, and
when Redis answers again each owned call gets a ``store.unavailable`` event saying how long it was gone.

One module of ~400 lines on purpose: the rounds, the channel's intake and the hash writes all keep the same
ownership bookkeeping (``owned`` and what was last shared of each owned call); summary sharing, which needs
only ``owned``, lives in :mod:`vapi_mcp.supervisor.summaries`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import ValidationError

from vapi_mcp.listen.shared_log import SharedEventLog
from vapi_mcp.store.shared.channel import Channel
from vapi_mcp.store.shared.fleet import Fleet
from vapi_mcp.store.shared.lease import DEFAULT_TTL_MS, Leases
from vapi_mcp.store.shared.link import REDIS_ERRORS, Backoff, RedisLink
from vapi_mcp.store.shared.stream import EventStreams, StreamJournal, parse_published
from vapi_mcp.supervisor.alerts.inbox import INBOX_ID
from vapi_mcp.supervisor.calls import SupervisedCall
from vapi_mcp.supervisor.observer import Aspect, CallObserver
from vapi_mcp.supervisor.summaries import SharedSummaries
from vapi_mcp.supervisor.views import AudioSummary, ListenState
from vapi_mcp.vapi import Call

if TYPE_CHECKING:
    from vapi_mcp.supervisor.registry import CallRegistry

__all__ = ["NotificationRelay", "Replicas", "call_from_shared", "call_to_shared"]

log = logging.getLogger(__name__)

ENDED_TTL_S = 30 * 86400  # an ended call's hash stays this long (DESIGN §13's retention default)
_LISTEN_STATES: dict[str, ListenState] = {
    "listen.connected": "connected",
    "listen.reconnecting": "reconnecting",
    "listen.closed": "closed",
}


def call_to_shared(call: Call) -> str:
    """The call as JSON for its hash, monitor URLs included (the capability every replica needs)."""
    data = call.model_dump(mode="json", by_alias=True, exclude={"monitor"})
    if call.monitor is not None:
        data["monitor"] = {
            "listenUrl": call.monitor.listen_url.get_secret_value() if call.monitor.listen_url else None,
            "controlUrl": call.monitor.control_url.get_secret_value() if call.monitor.control_url else None,
        }
    return json.dumps(data, separators=(",", ":"))


def call_from_shared(text: str) -> Call | None:
    try:
        return Call.model_validate_json(text)
    except ValidationError:
        return None


class NotificationRelay:
    """Resource-change notifications across replicas, for the face's subscription bus (text in, text out)."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._receivers: list[Callable[[bytes], None]] = []
        channel.on("notify", self._received)

    async def publish(self, payload: str) -> bool:
        """Send to every replica (this one included); False when Redis does not answer."""
        return await self._channel.publish("notify", payload)

    def on_message(self, receiver: Callable[[bytes], None]) -> None:
        self._receivers.append(receiver)

    def _received(self, payload: bytes) -> None:
        for receiver in self._receivers:
            receiver(payload)


class _Observer:
    """Wraps the face's observer: an owned call's changed audio summary is pushed if another replica watches."""

    def __init__(self, inner: CallObserver, replicas: Replicas) -> None:
        self.inner = inner
        self.replicas = replicas

    def call_changed(self, call_id: str, aspects: tuple[Aspect, ...], *, from_log: bool = False) -> None:
        self.inner.call_changed(call_id, aspects, from_log=from_log)
        if "audio-summary" in aspects:
            self.replicas.summaries.changed(call_id)
        if "recording" in aspects:
            self.replicas.recording_here(call_id)

    def calls_changed(self) -> None:
        self.inner.calls_changed()

    def inbox_changed(self) -> None:
        self.inner.inbox_changed()


class Replicas:
    """One replica's view of the shared fleet. ``bind`` it to its supervisor, then ``run`` it."""

    def __init__(self, link: RedisLink, *, ttl_ms: int = DEFAULT_TTL_MS) -> None:
        self.link = link
        self.streams = EventStreams(link, on_recovered=self._recovered)
        self.fleet = Fleet(link)
        self.leases = Leases(link, ttl_ms=ttl_ms)
        self.channel = Channel(link)
        self.relay = NotificationRelay(self.channel)
        self.owned: set[str] = set()
        self.summaries = SharedSummaries(link, self.fleet, self.channel, owned=self.owned, calls=lambda: self.sup.calls)
        self.takeovers = 0
        self._recording: set[str] = set()  # owned calls whose hash says this replica records them
        self._shared: dict[str, tuple[str, str | None, bool]] = {}  # what share() last wrote of each owned call
        self._ended: set[str] = set()  # calls of the fleet seen ended: not adopted by the rounds
        self.inbox: SharedEventLog | None = None  # the fleet inbox's shared log (DESIGN §11), once opened
        self._puts: dict[str, dict[str, str]] = {}  # hash fields waiting to be written, by call
        self._puts_due = anyio.Event()
        self._sup: CallRegistry | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self.channel.on("events", self._event_in)
        self.channel.on("commands", self._command_in)
        self.channel.on_reconnect(self._catch_up_all)

    @property
    def replica(self) -> str:
        return self.link.replica

    def observe(self, observer: CallObserver) -> CallObserver:
        return _Observer(observer, self)

    def bind(self, supervisor: CallRegistry, tasks: anyio.abc.TaskGroup) -> None:
        self._sup = supervisor
        self._tasks = tasks

    @property
    def sup(self) -> CallRegistry:
        assert self._sup is not None, "Replicas.bind() first"
        return self._sup

    def owns(self, call_id: str) -> bool:
        return call_id in self.owned

    # ------------------------------------------------------------------ synchronous hooks of the supervisor
    def open_log(self, call_id: str) -> SharedEventLog:
        last = self.streams.last_seq_now(call_id)
        return SharedEventLog(call_id, journal=StreamJournal(self.streams, call_id, last), submit=self.streams.submit)

    def open_inbox(self) -> SharedEventLog:
        """The fleet inbox, one log for every replica (its stream is the inbox's; alerts come from the owners)."""
        self.inbox = self.open_log(INBOX_ID)
        self.inbox.add_listener(lambda _event: self.sup.observer.inbox_changed())
        return self.inbox

    def claim(self, call: Call) -> tuple[bool, bool]:
        """Join a call to the fleet: (new to the fleet, this replica owns it). Redis down: (True, True)."""
        try:
            new = bool(self.link.sync.hsetnx(self.fleet.key(call.id), "call", call_to_shared(call)))
            mine = bool(self.link.sync.set(self.leases.key(call.id), self.replica, nx=True, px=self.leases.ttl_ms))
            mine = mine or self.leases.owner_now(call.id) == self.replica
        except REDIS_ERRORS as exc:
            self.link.failed("adding a call", exc)
            new = mine = True
        if mine:
            self.owned.add(call.id)
        return new, mine

    def adopt_now(self, call_id: str) -> SupervisedCall | None:
        """A call another replica added, looked up when asked for (None when Redis does not know it)."""
        fields = self.fleet.get_now(call_id, "call")
        call = call_from_shared(fields["call"]) if fields and "call" in fields else None
        if call is None:
            return None
        return self.sup.adopt(call, self.open_log(call_id), owner=False)

    def share(self, sup: SupervisedCall) -> None:
        """Write an owned call's snapshot and listen wish to its hash (in the background, in order) when its
        status or listen wish changed: other replicas read the snapshot when they adopt or take over the call,
        and learn every status from its events meanwhile."""
        shared = (sup.call.status, sup.call.ended_reason, sup.listen_wanted)
        if self._shared.get(sup.call_id) == shared:
            return
        self._shared[sup.call_id] = shared
        self._put_later(sup.call_id, {"call": call_to_shared(sup.call), "listen": "1" if sup.listen_wanted else "0"})

    def recording_here(self, call_id: str) -> None:
        """This replica records an owned call: say so in its hash, once (where to find the recording)."""
        if call_id in self.owned and call_id not in self._recording:
            self._recording.add(call_id)
            self._put_later(call_id, {"recorder": self.replica})

    def request_listen(self, call_id: str, wanted: bool) -> None:
        """Ask the owner of a call to start or stop listening (and record the wish in the hash)."""
        self._put_later(call_id, {"listen": "1" if wanted else "0"})
        self._soon(self.channel.publish, "commands", f"listen {call_id} {int(wanted)}")

    def _put_later(self, call_id: str, fields: dict[str, str]) -> None:
        """Queue hash fields; one task writes them, so a later write never lands before an earlier one."""
        self._puts.setdefault(call_id, {}).update(fields)
        self._puts_due.set()

    async def _write_puts(self) -> None:
        backoff = Backoff()
        while True:
            await self._puts_due.wait()
            self._puts_due = anyio.Event()
            puts, self._puts = self._puts, {}
            try:
                for call_id, fields in puts.items():
                    await self.fleet.put(call_id, fields)
                backoff.reset()
            except REDIS_ERRORS as exc:
                self.link.failed("sharing a call", exc)
                for call_id, fields in puts.items():  # keep what came in meanwhile: it is newer
                    self._puts[call_id] = {**fields, **self._puts.get(call_id, {})}
                self._puts_due.set()
                await anyio.sleep(backoff.next())

    async def summary(self, call_id: str, listen_state: ListenState) -> AudioSummary | None:
        """The owner's audio summary of a call another replica listens to (asked for while it listens)."""
        return await self.summaries.read(call_id, listen_state)

    def recorder(self, call_id: str) -> str | None:
        """The replica whose data dir holds the call's recording."""
        fields = self.fleet.get_now(call_id, "recorder")
        return fields.get("recorder") if fields else None

    def _soon(self, func: Callable[..., Any], *args: Any) -> None:
        if self._tasks is not None:
            self._tasks.start_soon(func, *args)

    # ------------------------------------------------------------------ what arrives on the channel
    def _event_in(self, payload: bytes) -> None:
        for call_id, records in parse_published(payload):
            if call_id == INBOX_ID and self.inbox is not None:
                self.inbox.take_all(records)
            elif (sup := self.sup.calls.get(call_id)) is not None:
                self._take(sup, records)

    def _take(self, sup: SupervisedCall, records: list[dict[str, Any]]) -> None:
        if not isinstance(sup.log, SharedEventLog):
            return
        for record in records:
            event = sup.log.take(record)
            if event is None or sup.call_id in self.owned:
                continue
            if event.type == "call.status":
                self.sup.mirror_status(sup, event.data.get("status"), event.data.get("endedReason"))
            elif event.type in _LISTEN_STATES:
                sup.listen_state = _LISTEN_STATES[event.type]
                sup.listen_wanted = True  # someone listens: the owner (shown as listening on every replica)

    def _command_in(self, payload: bytes) -> None:
        parts = payload.decode(errors="replace").split(" ")
        if len(parts) == 2 and parts[0] == "watch" and parts[1] in self.owned:
            self.summaries.watch(parts[1])
        elif len(parts) == 3 and parts[0] == "listen" and parts[1] in self.owned:
            sup = self.sup.calls.get(parts[1])
            if sup is not None:
                self.sup.listen_here(sup, parts[2] == "1")

    async def _catch_up(self, sup: SupervisedCall) -> None:
        if isinstance(sup.log, SharedEventLog):
            await self._catch_up_log(sup.log, lambda records: self._take(sup, records))

    async def _catch_up_log(self, log: SharedEventLog, take: Callable[[list[dict[str, Any]]], None]) -> None:
        """Read what the channel did not bring (a reconnection, a lost message) from the stream."""
        while True:
            records = await self.streams.read(log.call_id, log.latest_seq)
            take(records)
            if len(records) < 1000:
                return

    async def _catch_up_inbox(self) -> None:
        inbox = self.inbox
        if inbox is not None:
            await self._catch_up_log(inbox, inbox.take_all)

    async def _catch_up_all(self) -> None:
        self._shared.clear()  # Redis may have restarted empty: share every owned call again
        self._recording.clear()
        await self._catch_up_inbox()
        for sup in list(self.sup.calls.values()):
            await self._catch_up(sup)
            if sup.call_id in self.owned:
                self.share(sup)

    def _recovered(self, down_s: float, delayed: int) -> None:
        for call_id in list(self.owned):
            sup = self.sup.calls.get(call_id)
            if sup is not None and not sup.ended:
                sup.log.append("store.unavailable", {"down_s": round(down_s, 1), "delayed_events": delayed})

    # ------------------------------------------------------------------ the background rounds
    async def run(self) -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self.streams.run)
            tasks.start_soon(self.channel.run)
            tasks.start_soon(self._rounds)
            tasks.start_soon(self.summaries.run)
            tasks.start_soon(self._write_puts)

    async def _rounds(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self.round()
                backoff.reset()
                await anyio.sleep(self.leases.ttl_ms / 4000)
            except REDIS_ERRORS as exc:
                self.link.failed("renewing leases", exc)
                await anyio.sleep(min(backoff.next(), self.leases.ttl_ms / 4000))

    async def round(self) -> None:
        """Renew, release, adopt, catch up, take over: one pass (public for tests)."""
        await self._renew()
        await self._catch_up_behind([sup for sup in self.sup.calls.values() if not sup.ended])
        await self._adopt_new()
        await self._take_over([sup for sup in self.sup.calls.values() if not sup.ended and not self.owns(sup.call_id)])
        self.link.succeeded()

    async def _catch_up_behind(self, live: list[SupervisedCall]) -> None:
        """Catch up the logs (the inbox's too) whose counter in Redis is past what they took in."""
        logs = {sup.call_id: sup for sup in live if isinstance(sup.log, SharedEventLog)}
        reached = await self.streams.counters([*logs, INBOX_ID] if self.inbox is not None else list(logs))
        for call_id, seq in reached.items():
            sup = logs.get(call_id)
            if sup is not None and seq > sup.log.latest_seq:
                await self._catch_up(sup)
            elif call_id == INBOX_ID and self.inbox is not None and seq > self.inbox.latest_seq:
                await self._catch_up_inbox()

    async def _renew(self) -> None:
        keep: list[str] = []
        for call_id in list(self.owned):
            sup = self.sup.calls.get(call_id)
            if sup is None or sup.idle:  # over: its final summary, then the lease (retried next round on an error)
                if sup is not None:
                    await self.summaries.push_final(sup)
                await self.leases.release(call_id)
                await self.fleet.expire(call_id, ENDED_TTL_S)
                self.owned.discard(call_id)
                self._recording.discard(call_id)
                self._shared.pop(call_id, None)
            else:
                keep.append(call_id)
        for call_id, ok in (await self.leases.renew(keep)).items():
            sup = self.sup.calls.get(call_id)
            if not ok and sup is not None:
                self.owned.discard(call_id)
                self.sup.release_here(sup)
                log.warning("call %s: another replica holds its lease now; this one stops listening", call_id)

    async def _adopt_new(self) -> None:
        for call_id in await self.fleet.call_ids(limit=1000):
            if call_id in self.sup.calls or call_id in self._ended:
                continue
            fields = await self.fleet.get(call_id)
            call = call_from_shared(fields.get("call", ""))
            if call is None or call.ended:
                self._ended.add(call_id)
            else:
                self.sup.adopt(call, self.open_log(call_id), owner=False)

    async def _take_over(self, mirrors: list[SupervisedCall]) -> None:
        owners = await self.leases.owners([sup.call_id for sup in mirrors])  # one round trip for every call
        for sup in mirrors:
            if owners.get(sup.call_id) is not None or not await self.leases.acquire(sup.call_id):
                continue
            self.owned.add(sup.call_id)
            self.takeovers += 1
            fields = await self.fleet.get(sup.call_id)
            call = call_from_shared(fields.get("call", "")) or sup.call
            last = sup.log.read(after_seq=max(0, sup.log.latest_seq - 1), limit=1).events
            since = last[-1].at if last else None
            wanted = fields.get("listen") == "1"
            log.warning("listen.gap: call %s taken over (its owner stopped renewing the lease)", sup.call_id)
            self.sup.take_over(sup, call, listen=wanted, since=since)

    async def release_all(self) -> None:
        """Give up every lease this replica holds (a clean shutdown: another replica takes over at once)."""
        for call_id in list(self.owned):
            try:
                await self.leases.release(call_id)
            except REDIS_ERRORS:
                return
        self.owned.clear()
