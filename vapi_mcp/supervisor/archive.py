"""The calls on disk: what the server knows of a call it does not hold in memory (DESIGN §13).

Each call's snapshot (``call.json``, written through the store) holds the Vapi call's fields but its monitor
(the listen and control URLs are capabilities: never written anywhere), whether listening is wanted, and,
once the call has ended and its listening is over, its final audio summary. The supervisor writes it when
the call is first supervised, at every status change, when listening is started or stopped or closes, when
the memory cap forgets it, and at shutdown.

The archive indexes the data dir at start (one small :class:`~vapi_mcp.supervisor.views.CallInfo` per call
not in memory), so every call there is listed; reading one of them loads it back (its event log on its
journal, its final summary from the snapshot) through :meth:`CallArchive.load`. A call with a journal but no
snapshot (a data dir of an older version, or a ``kill -9`` before the first snapshot) gets its status from
its last ``call.status`` event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, cast

from pydantic import ValidationError

from vapi_mcp.errors import VapiMcpError
from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.recorder import repair_wav
from vapi_mcp.store.journal import JsonlJournal
from vapi_mcp.store.local import LocalStore
from vapi_mcp.supervisor.calls import SupervisedCall, call_info
from vapi_mcp.supervisor.views import CallInfo, resource_uris
from vapi_mcp.vapi import Call

__all__ = ["SNAPSHOT_VERSION", "CallArchive", "IndexReport"]

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 1
_STATUS_SCAN_BUDGET = 200_000  # journal lines examined for the last call.status of a call without snapshot


class IndexReport:
    """What one indexing of the data dir found (logged, and kept for diagnostics and tests)."""

    def __init__(self) -> None:
        self.found: dict[str, CallInfo] = {}
        self.unfinished: list[CallInfo] = []
        self.not_listened: set[str] = set()  # unfinished calls nobody wanted listened to (stop_listening, listen=False)
        self.torn_lines = 0
        self.unreadable = 0


class CallArchive:
    """The index of the calls the store holds but memory does not, and the snapshots of every call."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self._index: dict[str, CallInfo] = {}
        self.last_index: IndexReport | None = None

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def infos(self, exclude: Iterable[str] = ()) -> list[CallInfo]:
        """The indexed calls, but those in ``exclude`` (the ones memory holds, listed from there)."""
        skip = set(exclude)
        return [info for call_id, info in self._index.items() if call_id not in skip]

    def drop(self, call_id: str) -> None:
        """Forget the index entry (the call is back in memory, or pruned)."""
        self._index.pop(call_id, None)

    # ------------------------------------------------------------------ writing
    def save(self, sup: SupervisedCall) -> None:
        """Write the call's snapshot; with its final summary once it has ended and its listening is over.

        Never raises: a full disk or an unwritable folder is logged, and the call goes on in memory.
        """
        summary = sup.final_summary
        if sup.idle and sup.pipeline is not None:
            summary = sup.pipeline.summary().model_dump(mode="json")
            sup.final_summary = summary
        data = {
            "version": SNAPSHOT_VERSION,
            "call": sup.call.model_dump(mode="json", by_alias=True, exclude={"monitor"}, exclude_none=True),
            "summary": summary,
            "listen": sup.listen_wanted,
            "report": sup.report,
            "conversation": sup.conversation,
        }
        try:
            self.store.write_snapshot(sup.call_id, data)
        except (OSError, VapiMcpError, TypeError, ValueError) as exc:
            log.error("cannot write the snapshot of call %s: %s", sup.call_id, _reason(exc))

    def keep(self, sup: SupervisedCall) -> None:
        """The memory cap forgets ``sup``: index it, so it stays readable (saved first, unless its snapshot
        already holds its final summary)."""
        if sup.final_summary is None:
            self.save(sup)
        self._index[sup.call_id] = _stored_info(sup.call, sup.log.latest_seq)

    # ------------------------------------------------------------------ reading
    def scan(self, skip: Iterable[str] = ()) -> IndexReport:
        """Read every call of the store but those in ``skip`` (blocking file I/O: run it in a worker thread);
        :meth:`add` then indexes what it found."""
        report = IndexReport()
        held = set(skip)
        for call_id in self.store.call_ids():
            if call_id in held:
                continue
            try:
                call, seq, torn, listen = self._read(call_id)
            except (OSError, VapiMcpError) as exc:
                report.unreadable += 1
                log.warning("cannot index call %s: %s", call_id, _reason(exc))
                continue
            info = _stored_info(call, seq)
            report.found[call_id] = info
            report.torn_lines += torn
            if not call.ended:
                report.unfinished.append(info)
                if not listen:
                    report.not_listened.add(call_id)
        return report

    def add(self, report: IndexReport, skip: Iterable[str] = ()) -> None:
        """Index what :meth:`scan` found, but the calls in ``skip`` (held in memory since)."""
        held = set(skip)
        self._index.update((call_id, info) for call_id, info in report.found.items() if call_id not in held)
        self.last_index = report

    def load(self, call_id: str) -> SupervisedCall | None:
        """A call of the store, ready to be held in memory again: its event log open on its journal (its seq
        goes on), and what its snapshot kept (final summary, report, conversation); None if not held."""
        if call_id not in self._index and not self.store.holds(call_id):
            return None
        snapshot = self.store.read_snapshot(call_id) or {}
        journal = self.store.open_journal(call_id)
        call = _call_from(call_id, snapshot) or _call_from_journal(call_id, journal)
        summary, report, conversation = (snapshot.get(key) for key in ("summary", "report", "conversation"))
        return SupervisedCall(
            call=call,
            log=EventLog(call_id, journal=journal),
            final_summary=cast("dict[str, Any]", summary) if isinstance(summary, dict) else None,
            report=cast("dict[str, Any]", report) if isinstance(report, dict) else None,
            conversation=cast("list[dict[str, Any]]", conversation) if isinstance(conversation, list) else None,
        )

    def _read(self, call_id: str) -> tuple[Call, int, int, bool]:
        """(the call as last known, its last seq, torn journal lines cut, listening wanted) from its files."""
        snapshot = self.store.read_snapshot(call_id)
        call = _call_from(call_id, snapshot)
        seq = torn = 0
        journal = self.store.existing_journal(call_id)  # opening cuts a torn last line, counted here
        if journal is not None:
            with journal:
                seq, torn = journal.last_seq, int(journal.torn_bytes > 0)
                if call is None:
                    call = _call_from_journal(call_id, journal)
        if not (snapshot and snapshot.get("summary")):  # it may have been killed while recording
            self._repair_recording(call_id)
        listen = snapshot.get("listen", True) if snapshot else True  # unknown: resume it
        return call or Call(id=call_id, status="unknown"), seq, torn, listen is not False

    def _repair_recording(self, call_id: str) -> None:
        path = self.store.recording_path(call_id)
        if not path.is_file():
            return
        try:
            repair_wav(path)
        except (OSError, ValueError, VapiMcpError) as exc:
            log.warning("call %s: cannot repair its recording's header: %s", call_id, exc)


def _stored_info(call: Call, latest_seq: int) -> CallInfo:
    """The listing of a call held on disk only: supervised (its events are logged), not listening."""
    info = call_info(call, None)
    return info.model_copy(update={"supervised": True, "event_count": latest_seq, "resources": resource_uris(call.id)})


def _call_from(call_id: str, snapshot: dict[str, Any] | None) -> Call | None:
    raw = snapshot.get("call") if snapshot else None
    if not isinstance(raw, dict):
        return None
    try:
        call = Call.model_validate(raw)
    except ValidationError:
        log.warning("the snapshot of call %s does not hold a call; using its event log", call_id)
        return None
    return call if call.id == call_id else None


def _call_from_journal(call_id: str, journal: JsonlJournal) -> Call:
    """The call's status as its last ``call.status`` event says (``unknown`` if it has none)."""
    status: dict[str, Any] = {}
    after = 0
    while after < journal.last_seq:
        scan = journal.scan(
            after, journal.last_seq, types=frozenset({"call.status"}), limit=1000, budget=_STATUS_SCAN_BUDGET
        )
        for record in scan.records:
            data = record.get("data")
            if isinstance(data, dict):
                status = cast("dict[str, Any]", data)
        if scan.cursor <= after:
            break
        after = scan.cursor
    ended_reason = status.get("endedReason")
    return Call(
        id=call_id,
        status=str(status.get("status") or "unknown"),
        ended_reason=ended_reason if isinstance(ended_reason, str) else None,
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) if isinstance(exc, VapiMcpError) else type(exc).__name__
