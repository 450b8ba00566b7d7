"""What every route of one emulator shares: its options, its calls, the request log, faults and call tasks.

The routes (:mod:`~vapi_mcp.emulator.rest`, :mod:`~vapi_mcp.emulator.control`,
:mod:`~vapi_mcp.emulator.listen`) are plain functions of a :class:`Hub` and a request, so each concern lives in
its own module and :class:`~vapi_mcp.emulator.app.Emulator` only wires them together.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import uuid
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from vapi_mcp.emulator.audio import CallAudio
from vapi_mcp.emulator.drive import drive_call
from vapi_mcp.emulator.faults import FaultQueue
from vapi_mcp.emulator.options import EmulatorOptions
from vapi_mcp.emulator.scenario import Scenario
from vapi_mcp.emulator.state import CallState, RequestRecord
from vapi_mcp.emulator.webhooks import WebhookSender
from vapi_mcp.emulator.wire import bearer, host_literal, same_secret

__all__ = ["Hub"]

logger = logging.getLogger(__name__)


class Hub:
    """One emulator's shared state. Never holds a monitor URL; tokens live only on each :class:`CallState`."""

    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.calls: dict[str, CallState] = {}
        self.request_log: list[RequestRecord] = []
        self.faults = FaultQueue()
        self.base_url: str | None = None
        self.authority: str | None = None  # host:port of the monitor URLs
        self.closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: set[asyncio.Event] = set()  # one per open listen handler, set when it has finished
        self.webhooks = WebhookSender(options)

    def bind(self, host: str, port: int) -> None:
        """Where the emulator is served, for ``base_url`` and the monitor URLs' host."""
        self.base_url = f"http://{host_literal(host)}:{port}"
        self.authority = f"{host_literal(self.options.monitor_host or host)}:{port}"

    # --- requests ------------------------------------------------------------------------------------------------

    def log(self, method: str, template: str, status: int) -> None:
        self.request_log.append(RequestRecord(method, template, status))

    def respond(self, request: Request, template: str, response: Response) -> Response:
        """Log the request under its path *template* (never the path: it may hold a token) and answer."""
        self.log(request.method, template, response.status_code)
        return response

    def authorized(self, request: Request) -> bool:
        return same_secret(bearer(request.headers), self.options.api_key)

    def lookup(self, token: str, call_id: str) -> CallState | None:
        """The call a monitor URL names, if its token is right (compared in constant time)."""
        call = self.calls.get(call_id)
        if call is None or not hmac.compare_digest(call.token.encode(), token.encode()):
            return None
        return call

    # --- call tasks and listen sockets ----------------------------------------------------------------------------

    def new_call(
        self, request: dict[str, Any], scenario: Scenario, *, authority: str, type: str = "outboundPhoneCall"
    ) -> CallState:
        """A new call with a fresh id and monitor token (not started: :meth:`start` it)."""
        return CallState(
            id=str(uuid.uuid4()),
            token=secrets.token_urlsafe(18),
            options=self.options,
            request=request,
            scenario=scenario,
            audio=CallAudio(scenario),
            monitor_authority=self.authority or authority,
            type=type,
        )

    def start(self, call: CallState) -> None:
        """Register ``call`` and start the task that drives it through time."""
        self.calls[call.id] = call
        self.webhooks.attach(call)
        task = asyncio.get_running_loop().create_task(drive_call(call), name=f"emulator-call-{call.id[:8]}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("emulator call task failed", exc_info=task.exception())

    def socket_opened(self) -> asyncio.Event:
        """An event the listen handler sets when it has finished; shutdown waits for all of them."""
        finished = asyncio.Event()
        self._sockets.add(finished)
        return finished

    def socket_closed(self, finished: asyncio.Event) -> None:
        finished.set()
        self._sockets.discard(finished)

    async def aclose(self) -> None:
        """Close every listen socket with 1001 (going away) and stop every call's task; idempotent."""
        self.closed = True
        for call in self.calls.values():
            for listener in list(call.listeners):
                listener.close(1001, "emulator shutting down")
        with anyio.move_on_after(1.5):
            for finished in list(self._sockets):
                await finished.wait()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        await self.webhooks.aclose()
