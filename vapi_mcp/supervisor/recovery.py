"""Restart recovery (DESIGN §13): what the server does at start with the calls its data dir holds.

1. Retention: calls whose files have not changed for ``VAPI_MCP_RETENTION_DAYS`` are deleted (and again
   once a day while the server runs). The fleet inbox's events older than that are dropped too
   (:func:`prune_inbox`), at start only, before its journal is opened; their seqs are never reused.
2. Index: every call left is listed and readable at once (:class:`~vapi_mcp.supervisor.archive.CallArchive`).
3. Resume, in the background: the calls that were not over when the last process stopped are looked up in
   one batched ``GET /call`` (paginated; never one request per call). Those still going are supervised
   again and their listening resumes: the new pipeline first analyses the call's recording so far (see
   :mod:`vapi_mcp.listen.replay`), so the audio summary covers all the audio heard, and the time missed is
   logged as a ``listen.gap`` (``reason: restart``) once audio flows again. Those that ended meanwhile get
   their final status and their final summary, from the same analysis of their recording.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread

from vapi_mcp.errors import VapiError, VapiMcpError
from vapi_mcp.listen.replay import Gap, gaps_from_events
from vapi_mcp.settings import Settings
from vapi_mcp.store.local import LocalStore
from vapi_mcp.supervisor.archive import CallArchive, IndexReport
from vapi_mcp.supervisor.calls import SupervisedCall
from vapi_mcp.supervisor.listening import Listening
from vapi_mcp.supervisor.views import CallInfo
from vapi_mcp.vapi import Call, VapiClient
from vapi_mcp.vapi.listing import calls_created_since

__all__ = ["Recovery", "RecoveryReport", "prune_inbox"]

log = logging.getLogger(__name__)

_DAY_S = 86_400.0
_RETRY_MAX_S = 60.0


@dataclass
class RecoveryReport:
    """What the start-up recovery did (logged; kept for diagnostics and tests)."""

    index: IndexReport | None = None
    pruned: int = 0
    inbox_pruned: int = 0  # the fleet inbox's events dropped at start (embedded store only)
    index_s: float = 0.0
    resumed: list[str] = field(default_factory=list[str])
    ended_meanwhile: list[str] = field(default_factory=list[str])
    not_found: list[str] = field(default_factory=list[str])
    done: anyio.Event = field(default_factory=anyio.Event)


def prune_inbox(settings: Settings, store: LocalStore) -> int:
    """Drop the fleet inbox's events older than ``retention_days``, before its journal is opened: how many.

    The embedded store only: with Redis the inbox is a capped stream. Only at start, since the journal is open
    while the server runs; the seqs go on where they were. A failure is logged, never fatal: the inbox is kept.
    """
    if settings.retention_days <= 0:
        return 0
    try:
        dropped = store.prune_inbox(datetime.now(UTC) - timedelta(days=settings.retention_days))
    except (OSError, VapiMcpError) as exc:
        log.warning("retention: cannot prune the fleet inbox: %s", exc)
        return 0
    if dropped:
        log.info("retention: dropped %d inbox events older than %g days", dropped, settings.retention_days)
    return dropped


class Recovery:
    """The start-up indexing and resuming of one supervisor, and its daily retention pass."""

    def __init__(
        self,
        settings: Settings,
        client: VapiClient,
        store: LocalStore,
        archive: CallArchive,
        listening: Listening,
        *,
        register: Callable[[Call], SupervisedCall],
        ended: Callable[[SupervisedCall], None],
        held: Callable[[], Collection[str]],
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.archive = archive
        self.listening = listening
        self._register = register
        self._ended = ended
        self._held = held
        self.report = RecoveryReport()

    async def start(self, tasks: anyio.abc.TaskGroup) -> RecoveryReport:
        """Prune and index now (the calls are listed once this returns); resume in ``tasks``."""
        report = self.report
        started = time.perf_counter()
        report.pruned = await self.prune()
        found = await anyio.to_thread.run_sync(self.archive.scan, set(self._held()))
        self.archive.add(found, self._held())
        report.index, report.index_s = found, time.perf_counter() - started
        log.info(
            "indexed %d calls of the data dir in %.2fs (%d not over when the last process stopped, %d torn journal "
            "lines skipped, %d unreadable, %d pruned)",
            len(found.found),
            report.index_s,
            len(found.unfinished),
            found.torn_lines,
            found.unreadable,
            report.pruned,
        )
        if found.unfinished:
            tasks.start_soon(self._resume, found.unfinished, found.not_listened)
        else:
            report.done.set()
        if self.settings.retention_days > 0:
            tasks.start_soon(self._prune_daily)
        return report

    # ------------------------------------------------------------------ retention
    async def prune(self) -> int:
        """Delete the calls (not in memory) unchanged for ``retention_days``; how many were deleted."""
        if self.settings.retention_days <= 0:
            return 0
        cutoff = time.time() - self.settings.retention_days * _DAY_S
        removed = await anyio.to_thread.run_sync(self._prune_files, cutoff, set(self._held()))
        held = set(self._held())
        for call_id in removed:
            if call_id not in held:
                self.archive.drop(call_id)
        if removed:
            log.info("retention: deleted %d calls older than %g days", len(removed), self.settings.retention_days)
        return len(removed)

    def _prune_files(self, cutoff: float, held: set[str]) -> list[str]:
        removed: list[str] = []
        for call_id in self.store.call_ids():
            if call_id in held:
                continue
            try:
                written = self.store.last_written(call_id)
                if written is not None and written < cutoff:
                    self.store.remove_call(call_id)
                    removed.append(call_id)
            except (OSError, VapiMcpError) as exc:
                log.warning("retention: cannot delete call %s: %s", call_id, exc)
        return removed

    async def _prune_daily(self) -> None:
        while True:
            await anyio.sleep(_DAY_S)
            await self.prune()

    # ------------------------------------------------------------------ resuming
    async def _resume(self, unfinished: list[CallInfo], not_listened: set[str]) -> None:
        report = self.report
        try:
            stamps = [info.created_at for info in unfinished if info.created_at]
            calls = await self._list_since(min(stamps)) if stamps else {}
            for info in unfinished:
                call = calls.get(info.call_id)
                if call is None:
                    report.not_found.append(info.call_id)
                    log.warning("call %s was not over but Vapi did not list it; it is not resumed", info.call_id)
                    continue
                try:
                    await self._resume_call(call, listen=call.id not in not_listened)
                except VapiMcpError as exc:
                    log.warning("call %s: cannot resume it: %s", call.id, exc)
        finally:
            report.done.set()
        log.info(
            "recovery: %d calls resumed, %d ended while the server was down, %d not found",
            len(report.resumed),
            len(report.ended_meanwhile),
            len(report.not_found),
        )

    async def _list_since(self, since: str) -> dict[str, Call]:
        """The one batched check, retried with backoff while Vapi cannot answer."""
        delay = 1.0
        while True:
            try:
                return await calls_created_since(self.client, since)
            except VapiError as exc:
                log.warning("recovery: cannot list calls (%s); retrying in %.0fs", exc, delay)
                await anyio.sleep(delay)
                delay = min(_RETRY_MAX_S, delay * 2)

    async def _resume_call(self, call: Call, *, listen: bool) -> None:
        sup = self._register(call)
        if sup.pipeline is not None:  # already listened to by this process (attach_call came first)
            return
        pipeline = self.listening.new_pipeline(sup)
        gaps = self._gaps(sup)
        missed = self._missed_s(sup)
        await anyio.to_thread.run_sync(pipeline.resume_after_restart, gaps, missed)
        if sup.pipeline is not None:
            return
        sup.pipeline = pipeline
        if sup.ended:
            pipeline.finish()
            self.archive.save(sup)
            self._ended(sup)  # the inbox's call.ended, with the summary of the whole recording
            self.report.ended_meanwhile.append(sup.call_id)
        elif listen and sup.has_listen_url:
            self.listening.start(sup)
            self.report.resumed.append(sup.call_id)
        # Not listened to: the primed pipeline waits for a start_listening, which then logs the gap.

    def _gaps(self, sup: SupervisedCall) -> list[Gap]:
        """The gaps the call's log records (where the recording holds zeros that were no audio)."""
        found: list[dict[str, Any]] = []
        after = 0
        while True:
            page = sup.log.read(after_seq=after, limit=1000, types=["listen.gap"])
            found.extend(event.data for event in page.events)
            if page.next_seq <= after or page.next_seq >= page.latest_seq:
                return gaps_from_events(found)
            after = page.next_seq

    def _missed_s(self, sup: SupervisedCall) -> float:
        """Seconds since the call's last recorded audio (its recording's last write), 0 if unknown."""
        if not self.settings.record:
            return 0.0
        try:
            written = os.stat(self.store.recording_path(sup.call_id)).st_mtime
        except (OSError, VapiMcpError):
            return 0.0
        return max(0.0, time.time() - written)
