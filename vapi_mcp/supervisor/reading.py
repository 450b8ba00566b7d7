"""Reading a supervised call's log: pages, and waiting for what comes next."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from vapi_mcp.listen.events import CallEvent, EventPage
from vapi_mcp.supervisor.calls import SupervisedCall
from vapi_mcp.supervisor.views import EventsPage, EventView, WaitResult

__all__ = ["page_view", "wait_for_event"]


def page_view(call_id: str, page: EventPage) -> EventsPage:
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
    """Block until an event (of ``types``) with seq > ``after_seq`` exists, or the timeout.

    ``after_seq`` defaults to the latest seq, i.e. wait for something new. Returns early,
    unmatched, once the call has ended and nothing more can arrive. ``progress`` is told how
    long it has waited about once per ``tick_s``.
    """
    since = sup.log.latest_seq if after_seq is None else after_seq
    wanted = set(types) if types else None
    arrived = anyio.Event()

    def on_event(event: CallEvent) -> None:
        if wanted is None or event.type in wanted:
            arrived.set()

    started = time.monotonic()
    unsubscribe = sup.log.add_listener(on_event)
    try:
        while True:
            page = sup.log.read(after_seq=since, limit=100, types=types)
            waited = time.monotonic() - started
            if page.events or waited >= timeout_s or sup.idle:
                return WaitResult(
                    call_id=sup.call_id,
                    matched=bool(page.events),
                    events=page_view(sup.call_id, page).events,
                    next_seq=page.next_seq if page.events else max(since, page.next_seq),
                    waited_s=round(waited, 3),
                    call_status=sup.call.status,
                )
            with anyio.move_on_after(min(tick_s, timeout_s - waited)):
                await arrived.wait()
            if progress is not None and not arrived.is_set():
                await progress(round(time.monotonic() - started, 1), timeout_s)
    finally:
        unsubscribe()
