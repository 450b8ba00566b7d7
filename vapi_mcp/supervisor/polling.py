"""Status polling that scales with the fleet (DESIGN §12): one request per interval, not one per call.

One task polls for every supervised call. Each interval it picks the calls that are due:

- a call whose status comes by webhook is due only as a slow safety net: in a round every
  ``webhook_poll_s`` (≥ 30 s), when its last news (by webhook or poll) is at least that old;
- any other live call is due every ``poll_interval_s``.

One due call is read with ``GET /call/{id}``. Several are read with ``GET /call`` filtered to the calls
created since the oldest of them (:func:`~vapi_mcp.vapi.listing.calls_created_since`: ``createdAtGe``,
1,000 a page, further pages by ``createdAtLe``): one request covers a thousand live calls. A due call the
list did not show (deleted, or beyond ``MAX_PAGES``) is read by id, a few per interval. A 429 slows the
whole poller down (``Retry-After`` honoured), as the per-call pollers did one by one.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping

import anyio
import anyio.abc

from vapi_mcp.errors import CallNotFound, VapiError, VapiRateLimited
from vapi_mcp.settings import Settings
from vapi_mcp.supervisor.calls import SupervisedCall
from vapi_mcp.vapi import Call, VapiClient
from vapi_mcp.vapi.listing import MAX_PAGE, calls_created_since

__all__ = ["PAGE_LIMIT", "StatusPoller"]

log = logging.getLogger(__name__)

PAGE_LIMIT = MAX_PAGE
"""Calls per ``GET /call`` page (Vapi's maximum ``limit``)."""
MAX_PAGES = 10
"""Pages read per interval at most; a due call beyond them is read by id."""
MAX_SINGLES = 5
"""Due calls read by id per interval when the list did not show them."""
MAX_BACKOFF_S = 60.0


class StatusPoller:
    """The fleet's status poller: :meth:`wake` starts it; it stops by itself once no call is live."""

    def __init__(
        self,
        settings: Settings,
        tasks: anyio.abc.TaskGroup,
        *,
        client: VapiClient,
        calls: Mapping[str, SupervisedCall],
        update: Callable[[SupervisedCall, Call], None],
        refresh: Callable[[str], Awaitable[object]],
        on_gone: Callable[[SupervisedCall], None],
    ) -> None:
        self.settings = settings
        self.tasks = tasks
        self._client = client
        self._calls = calls
        self._update = update
        self._refresh = refresh
        self._on_gone = on_gone
        self._running = False
        self._round_at = time.monotonic()  # the last safety-net round over the calls fed by webhooks

    @property
    def running(self) -> bool:
        return self._running

    def wake(self) -> None:
        """Make sure the poller runs (idempotent; a call was just supervised)."""
        if not self._running:
            self._running = True
            self.tasks.start_soon(self._run)

    def due(self, now: float) -> list[SupervisedCall]:
        """The live calls whose status should be read now.

        Calls fed by webhooks are checked in rounds, every ``webhook_poll_s``, all of them in one request: each
        one whose last news is at least that old. Checked one by one as each came due, a thousand such calls
        would have cost a request almost every interval.
        """
        slow = self.settings.webhook_poll_s
        round_due = now - self._round_at >= slow
        if round_due:
            self._round_at = now
        due: list[SupervisedCall] = []
        for sup in self._calls.values():
            if sup.ended:
                continue
            if sup.webhook_status_at is None:
                due.append(sup)
            elif round_due and now - max(sup.webhook_status_at, sup.polled_at) >= slow:
                due.append(sup)
        return due

    async def _run(self) -> None:
        interval = self.settings.poll_interval_s
        try:
            while any(not sup.ended for sup in self._calls.values()):
                await anyio.sleep(interval * random.uniform(0.9, 1.1))
                due = self.due(time.monotonic())
                if not due:
                    continue
                try:
                    await self.poll(due)
                    interval = self.settings.poll_interval_s
                except VapiRateLimited as exc:
                    interval = min(MAX_BACKOFF_S, max(interval * 2, exc.retry_after or 0.0))
                    log.info("status poll rate limited; next in %.1fs", interval)
                except VapiError as exc:
                    interval = min(MAX_BACKOFF_S, interval * 2)
                    log.info("status poll failed (%s); next in %.1fs", exc, interval)
        finally:
            self._running = False

    async def poll(self, due: list[SupervisedCall]) -> None:
        """Read the status of ``due`` calls: by id for one, by list for several."""
        if len(due) == 1:
            await self._by_id(due[0])
            return
        wanted = {sup.call_id: sup for sup in due}
        await self._by_list(wanted)
        for sup in list(wanted.values())[:MAX_SINGLES]:
            await self._by_id(sup)

    async def _by_id(self, sup: SupervisedCall) -> None:
        sup.polled_at = time.monotonic()
        try:
            await self._refresh(sup.call_id)
        except CallNotFound:
            log.warning("call %s vanished from Vapi; stop polling it", sup.call_id)
            self._on_gone(sup)

    async def _by_list(self, wanted: dict[str, SupervisedCall]) -> None:
        """Read the calls created since the oldest wanted one (found ones are removed from ``wanted``)."""
        created = [sup.call.created_at for sup in wanted.values() if sup.call.created_at]
        if not created:
            return
        listed = await calls_created_since(
            self._client,
            min(created),
            page=PAGE_LIMIT,
            max_pages=MAX_PAGES,
            enough=lambda found: wanted.keys() <= found.keys(),
            only=wanted.keys(),  # the fleet's other calls (another replica's) are not parsed
        )
        now = time.monotonic()
        for call_id in [call_id for call_id in wanted if call_id in listed]:
            sup = wanted.pop(call_id)
            sup.polled_at = now
            self._update(sup, _keeping_monitor(listed[call_id], sup.call))


def _keeping_monitor(fresh: Call, known: Call) -> Call:
    """A listed call without its monitor URLs keeps the ones we have (the list may leave them out)."""
    if fresh.monitor is None and known.monitor is not None:
        return fresh.model_copy(update={"monitor": known.monitor})
    return fresh
