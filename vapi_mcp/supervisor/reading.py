"""Reading a supervised call's log, or the fleet inbox: pages, and waiting for what comes next."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from vapi_mcp.listen.events import CallEvent, EventLog, EventPage
from vapi_mcp.supervisor.calls import SupervisedCall
from vapi_mcp.supervisor.views import EventsPage, EventView, WaitResult

__all__ = ["page_view", "wait_for_event", "wait_on_log"]


def page_view(call_id: str | None, page: EventPage) -> EventsPage:
    return EventsPage(
        call_id=call_id,
        events=[EventView(seq=e.seq, at=e.at, type=e.type, data=e.data) for e in page.events],
        next_seq=page.next_seq,
        latest_seq=page.latest_seq,
        dropped_before=page.dropped_before,
    )


async def wait_for_event(
    sup: SupervisedCall,
    *,
    types: list[str] | None,
    after_seq: int | None,
    timeout_s: float,
    progress: Callable[[float, float], Awaitable[None]] | None,
    tick_s: float = 1.0,
) -> WaitResult:
    """Block until the call logs an event (of ``types``) with seq > ``after_seq``, or the timeout.

    ``after_seq`` defaults to the latest seq, i.e. wait for something new. Returns early,
    unmatched, once the call has ended and nothing more can arrive. ``progress`` is told how
    long it has waited about once per ``tick_s``.
    """
    result = await wait_on_log(
        sup.log,
        call_id=sup.call_id,
        done=lambda: sup.idle,
        types=types,
        after_seq=after_seq,
        timeout_s=timeout_s,
        progress=progress,
        tick_s=tick_s,
    )
    return result.model_copy(update={"call_status": sup.call.status})


async def wait_on_log(
    log: EventLog,
    *,
    call_id: str | None,
    done: Callable[[], bool],
    types: list[str] | None,
    after_seq: int | None,
    timeout_s: float,
    progress: Callable[[float, float], Awaitable[None]] | None,
    tick_s: float = 1.0,
) -> WaitResult:
    """:func:`wait_for_event` on any log (a call's, or the fleet inbox with ``call_id`` None).

    Returns early, unmatched, once ``done()`` says nothing more can arrive.
    """
    since = log.latest_seq if after_seq is None else after_seq
    wanted = set(types) if types else None
    arrived = anyio.Event()

    def on_event(event: CallEvent) -> None:
        if wanted is None or event.type in wanted:
            arrived.set()

    started = time.monotonic()
    unsubscribe = log.add_listener(on_event)
    try:
        while True:
            page = log.read(after_seq=since, limit=100, types=types)
            waited = time.monotonic() - started
            if page.events or waited >= timeout_s or done():
                return WaitResult(
                    call_id=call_id,
                    matched=bool(page.events),
                    events=page_view(call_id, page).events,
                    next_seq=page.next_seq if page.events else max(since, page.next_seq),
                    waited_s=round(waited, 3),
                )
            with anyio.move_on_after(min(tick_s, timeout_s - waited)):
                await arrived.wait()
            if progress is not None and not arrived.is_set():
                await progress(round(time.monotonic() - started, 1), timeout_s)
    finally:
        unsubscribe()
