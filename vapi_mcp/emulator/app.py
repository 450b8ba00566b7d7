"""The emulator as one ASGI app: Vapi's REST calls, the control endpoint and the listen socket.

Faithful to reference/vapi-api.md §7; each surface lives in its own module (:mod:`~vapi_mcp.emulator.rest`,
:mod:`~vapi_mcp.emulator.control`, :mod:`~vapi_mcp.emulator.listen`) as functions of the shared
:class:`~vapi_mcp.emulator.hub.Hub`. Monitor URLs carry a random token segment (``/<token>/<callId>/listen``), so
they cannot be derived from the call id: they are capabilities, and the emulator never logs them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from vapi_mcp.emulator.control import control
from vapi_mcp.emulator.hub import Hub
from vapi_mcp.emulator.listen import listen
from vapi_mcp.emulator.options import EmulatorOptions, FaultRule, resolve_scenario
from vapi_mcp.emulator.rest import CLIENT_GONE, create_call, get_call, list_calls
from vapi_mcp.emulator.scenario import GroundTruth
from vapi_mcp.emulator.state import CallState, ControlRecord, RequestRecord
from vapi_mcp.emulator.webhooks import Delivery
from vapi_mcp.emulator.wire import vapi_error

__all__ = ["Emulator"]


class Emulator:
    """A faithful local Vapi. ``emu.app`` is the ASGI app; ``running_emulator`` serves it on loopback.

    Introspection (for tests and the demo) never exposes the key, the public key or a monitor URL:
    ``calls``, ``control_log(call_id)``, ``view(call_id)``, ``ground_truth(call_id)``, ``request_log``.
    """

    def __init__(self, options: EmulatorOptions) -> None:
        resolve_scenario(options.scenario, options)  # fail fast on a bad default scenario
        self.options = options
        self._hub = Hub(options)
        hub = self._hub
        self.app = Starlette(
            routes=[
                Route("/call", partial(create_call, hub), methods=["POST"]),
                Route("/call", partial(list_calls, hub), methods=["GET"]),
                Route("/call/{call_id}", partial(get_call, hub), methods=["GET"]),
                Route("/{token}/{call_id}/control", partial(control, hub), methods=["POST"]),
                WebSocketRoute("/{token}/{call_id}/listen", partial(listen, hub)),
            ],
            exception_handlers={HTTPException: self._http_exception, ClientDisconnect: self._client_gone},
            lifespan=self._lifespan,
        )

    def __repr__(self) -> str:
        return f"Emulator(base_url={self.base_url!r}, calls={len(self.calls)})"

    # --- public surface ------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str | None:
        """``http://host:port`` once :meth:`bind` was called (``running_emulator`` does)."""
        return self._hub.base_url

    @property
    def calls(self) -> dict[str, CallState]:
        return self._hub.calls

    @property
    def request_log(self) -> list[RequestRecord]:
        return self._hub.request_log

    def bind(self, host: str, port: int) -> None:
        """Tell the emulator where it is served, for ``base_url`` and the monitor URLs' host."""
        self._hub.bind(host, port)

    def add_fault(self, rule: FaultRule) -> None:
        self._hub.faults.add(rule)

    @property
    def server_url(self) -> str | None:
        """Where calls without an assistant ``server.url`` send their server messages (from now on)."""
        return self._hub.webhooks.server_url

    @server_url.setter
    def server_url(self, url: str | None) -> None:
        self._hub.webhooks.server_url = url

    @property
    def webhook_deliveries(self) -> list[Delivery]:
        """Every server message POSTed to a Server URL, in order (type and the answer's status)."""
        return self._hub.webhooks.deliveries

    def inbound_call(
        self,
        *,
        customer_number: str = "+14155550199",
        assistant: dict[str, Any] | None = None,
        scenario: str | None = None,
    ) -> str:
        """A customer calls in: an ``inboundPhoneCall`` nobody created through the API (only webhooks tell)."""
        request: dict[str, Any] = {"customer": {"number": customer_number}, "phoneNumberId": "phone-inbound"}
        if assistant is not None:
            request["assistant"] = assistant
        else:
            request["assistantId"] = "asst-inbound"
        chosen = resolve_scenario(scenario or self.options.scenario, self.options)
        call = self._hub.new_call(request, chosen, authority="127.0.0.1", type="inboundPhoneCall")
        self._hub.start(call)
        call.emit({"type": "status-update", "status": call.status})
        return call.id

    def send_server_message(self, call_id: str, message: dict[str, Any]) -> None:
        """Post any server message about a call (``hang``, ``tool-calls``, …): its type and its own fields."""
        self.calls[call_id].emit(message)

    def control_log(self, call_id: str) -> list[ControlRecord]:
        return list(self.calls[call_id].control_log)

    def view(self, call_id: str) -> dict[str, Any]:
        return self.calls[call_id].view()

    def ground_truth(self, call_id: str) -> GroundTruth:
        return self.calls[call_id].audio.actual_ground_truth()

    async def aclose(self) -> None:
        """Close every listen socket with 1001 (going away) and stop every call's task; idempotent."""
        await self._hub.aclose()

    # --- plumbing ------------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncGenerator[None]:
        yield
        await self.aclose()

    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        path = request.url.path
        shown = path if path.startswith("/call") else "this path"  # never echo a capability path
        return self._hub.respond(request, "?", vapi_error(404, f"Cannot {request.method} {shown}"))

    async def _client_gone(self, request: Request, exc: Exception) -> Response:
        """A client that hangs up mid-request is routine (a timeout on its side), not an error with a traceback."""
        return self._hub.respond(request, "?", Response(status_code=CLIENT_GONE))
