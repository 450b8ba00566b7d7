"""The emulator's wire: a Starlette app serving Vapi's REST calls, the control endpoint and the listen socket.

Faithful to reference/vapi-api.md §7. Where Vapi's behaviour is unknown the emulator picks a documented default:

* control success is ``200 {"status": "ok"}`` (clients must not parse it); an unknown or ended call answers
  ``options.control_not_found_status`` (404) with Vapi's error body;
* a listen connection for an unknown/ended call is refused *before* the WebSocket handshake with HTTP 404
  (HTTP 401 when ``listenAuthenticationEnabled`` and the bearer is not the public key), or with close code 1008
  where the server cannot send an HTTP denial;
* a listen connection opened before the call is ``in-progress`` is accepted and stays silent until it is
  (real Vapi is unreliable there; clients should wait for ``in-progress``);
* monitor URLs carry a random token segment (``/<token>/<callId>/listen``), so they cannot be derived from the
  call id: they are capabilities, and the emulator never logs them.

Emulator-only knob: a ``POST /call`` may choose its scenario with ``emulatorScenario`` in
``assistantOverrides.variableValues``, ``assistantOverrides.metadata``, ``assistant.metadata`` or a top-level
``metadata`` (real Vapi ignores all of these for that purpose).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from http import HTTPStatus
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from vapi_mcp.emulator.audio import CallAudio
from vapi_mcp.emulator.control import E164, apply_control, validate_control_message
from vapi_mcp.emulator.state import (
    ABORT,
    CallState,
    Close,
    ControlRecord,
    EmulatorOptions,
    FaultRule,
    Listener,
    RequestRecord,
    drive_call,
    resolve_scenario,
)

__all__ = ["ABORT_EXTENSION", "Emulator"]

logger = logging.getLogger(__name__)

# ASGI extension the emulator's runner adds to WebSocket scopes: {"abort": transport.abort}.
ABORT_EXTENSION = "vapi_mcp.emulator.abort"
INVALID_KEY = "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa."
CREATE_FIELDS = (
    "name",
    "assistantId",
    "assistant",
    "assistantOverrides",
    "assistantVersion",
    "squadId",
    "squad",
    "squadOverrides",
    "workflowId",
    "workflow",
    "workflowOverrides",
    "phoneNumberId",
    "phoneNumber",
    "customerId",
    "customer",
    "schedulePlan",
    "transport",
)
CUSTOMER_FIELDS = (
    "number",
    "sipUri",
    "name",
    "email",
    "externalId",
    "extension",
    "numberE164CheckEnabled",
    "assistantOverrides",
    "squadOverrides",
)
LIST_DATE_FILTERS = tuple(f"{field}{op}" for field in ("createdAt", "updatedAt") for op in ("Gt", "Lt", "Ge", "Le"))
FAULT_MESSAGES = {429: "ThrottlerException: Too Many Requests", 500: "Internal server error"}


def vapi_error(status: int, message: str | list[str], headers: dict[str, str] | None = None) -> JSONResponse:
    """Vapi's (NestJS) error body: ``{"message": str | [str], "error": <reason phrase>, "statusCode": n}``."""
    body = {"message": message, "error": HTTPStatus(status).phrase, "statusCode": status}
    return JSONResponse(body, status_code=status, headers=headers)


def _bearer(headers: Any) -> str | None:
    value = headers.get("authorization")
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _host_literal(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _same_secret(given: str | None, expected: str | None) -> bool:
    return given is not None and expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def _scenario_choice(body: dict[str, Any]) -> Any:
    overrides = body.get("assistantOverrides") if isinstance(body.get("assistantOverrides"), dict) else {}
    assistant = body.get("assistant") if isinstance(body.get("assistant"), dict) else {}
    for holder in (
        overrides.get("variableValues"),
        overrides.get("metadata"),
        assistant.get("metadata"),
        body.get("metadata"),
    ):
        if isinstance(holder, dict) and "emulatorScenario" in holder:
            return holder["emulatorScenario"]
    return None


def _validate_create(body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key in ("assistant", "assistantOverrides", "squad", "customer", "workflow"):
        if key in body and not isinstance(body[key], dict):
            problems.append(f"{key} must be an object")
    for key in ("assistantId", "squadId", "phoneNumberId", "workflowId", "name"):
        if key in body and not isinstance(body[key], str):
            problems.append(f"{key} must be a string")
    customer = body.get("customer")
    if not isinstance(customer, dict) or not ({"number", "sipUri"} & customer.keys()):
        problems.append("customer.number or customer.sipUri must be provided")
    elif "number" in customer:
        number = customer["number"]
        e164 = customer.get("numberE164CheckEnabled") is not False
        if not isinstance(number, str) or (e164 and not E164.match(number)):
            problems.append(
                "customer.number must be a valid phone number in the E.164 format. "
                "Hot tip, you may be missing the country code (Eg. US: +1)."
            )
    elif not isinstance(customer["sipUri"], str) or not re.match(r"^sips?:", customer["sipUri"]):
        problems.append("customer.sipUri must be a valid SIP URI")
    if not ({"assistantId", "assistant", "squadId", "squad", "workflowId", "workflow"} & body.keys()):
        problems.append("Need either assistantId, assistant, squadId or squad.")
    return problems


def _parse_date(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be a valid ISO 8601 date string") from None
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be a valid ISO 8601 date string")
    return moment


def _date_filter(call: CallState, name: str, bound: datetime) -> bool:
    moment = call.created_at if name.startswith("created") else call.updated_at
    op = name[-2:]
    return {"Gt": moment > bound, "Lt": moment < bound, "Ge": moment >= bound, "Le": moment <= bound}[op]


class Emulator:
    """A faithful local Vapi. ``emu.app`` is the ASGI app; ``running_emulator`` serves it on loopback.

    Introspection (for tests and the demo) never exposes the key, the public key or a monitor URL:
    ``calls``, ``control_log(call_id)``, ``view(call_id)``, ``ground_truth(call_id)``, ``request_log``.
    """

    def __init__(self, options: EmulatorOptions) -> None:
        resolve_scenario(options.scenario, options)  # fail fast on a bad default scenario
        self.options = options
        self.calls: dict[str, CallState] = {}
        self.request_log: list[RequestRecord] = []
        self.base_url: str | None = None
        self._authority: str | None = None
        self._faults: list[list[Any]] = []  # [rule, remaining]
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: set[asyncio.Event] = set()  # one per open listen handler, set when it has finished
        self._closed = False
        self.app = Starlette(
            routes=[
                Route("/call", self._create_call, methods=["POST"]),
                Route("/call", self._list_calls, methods=["GET"]),
                Route("/call/{call_id}", self._get_call, methods=["GET"]),
                Route("/{token}/{call_id}/control", self._control, methods=["POST"]),
                WebSocketRoute("/{token}/{call_id}/listen", self._listen),
            ],
            exception_handlers={HTTPException: self._http_exception},
            lifespan=self._lifespan,
        )

    def __repr__(self) -> str:
        return f"Emulator(base_url={self.base_url!r}, calls={len(self.calls)})"

    # --- public surface ------------------------------------------------------------------------------------------

    def bind(self, host: str, port: int) -> None:
        """Tell the emulator where it is served, for ``base_url`` and the monitor URLs' host."""
        self.base_url = f"http://{_host_literal(host)}:{port}"
        self._authority = f"{_host_literal(self.options.monitor_host or host)}:{port}"

    def add_fault(self, rule: FaultRule) -> None:
        self._faults.append([rule, rule.times])

    def control_log(self, call_id: str) -> list[ControlRecord]:
        return list(self.calls[call_id].control_log)

    def view(self, call_id: str) -> dict[str, Any]:
        return self.calls[call_id].view()

    def ground_truth(self, call_id: str) -> Any:
        return self.calls[call_id].audio.actual_ground_truth()

    async def aclose(self) -> None:
        """Close every listen socket with 1001 (going away) and stop every call's task; idempotent."""
        self._closed = True
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

    # --- plumbing ------------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        yield
        await self.aclose()

    def _log(self, method: str, template: str, status: int) -> None:
        self.request_log.append(RequestRecord(method, template, status))

    def _respond(self, request: Request, template: str, response: Response) -> Response:
        self._log(request.method, template, response.status_code)
        return response

    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        path = request.url.path
        shown = path if path.startswith("/call") else "this path"  # never echo a capability path
        return self._respond(request, "?", vapi_error(404, f"Cannot {request.method} {shown}"))

    def _authorized(self, request: Request) -> bool:
        return _same_secret(_bearer(request.headers), self.options.api_key)

    async def _fault(self, route: str, call_id: str | None) -> Response | None:
        """Consume the first matching scripted fault: sleep its delay, then answer its status (if any)."""
        for entry in self._faults:
            rule: FaultRule = entry[0]
            if rule.route == route and (rule.call_id is None or rule.call_id == call_id):
                entry[1] -= 1
                if entry[1] <= 0:
                    self._faults.remove(entry)
                if rule.delay_s:
                    await asyncio.sleep(rule.delay_s)
                if rule.status is None:
                    return None
                headers: dict[str, str] = {}
                retry_after = (
                    rule.retry_after if rule.retry_after is not None else (1.0 if rule.status == 429 else None)
                )
                if retry_after is not None:
                    headers["Retry-After"] = f"{retry_after:g}"
                message = FAULT_MESSAGES.get(rule.status, HTTPStatus(rule.status).phrase)
                return vapi_error(rule.status, message, headers)
        return None

    def _lookup(self, token: str, call_id: str) -> CallState | None:
        call = self.calls.get(call_id)
        if call is None or not hmac.compare_digest(call.token.encode(), token.encode()):
            return None
        return call

    def _start(self, call: CallState) -> None:
        task = asyncio.get_running_loop().create_task(drive_call(call), name=f"emulator-call-{call.id[:8]}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("emulator call task failed", exc_info=task.exception())

    # --- REST ------------------------------------------------------------------------------------------------------

    async def _create_call(self, request: Request) -> Response:
        def answer(response: Response) -> Response:
            return self._respond(request, "/call", response)

        if not self._authorized(request):
            return answer(vapi_error(401, INVALID_KEY))
        if (fault := await self._fault("create", None)) is not None:
            return answer(fault)
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return answer(vapi_error(400, "Unexpected token in JSON body"))
        if not isinstance(body, dict):
            return answer(vapi_error(400, ["body must be an object"]))
        # Like Vapi: unknown (e.g. snake_case) fields are silently dropped, never an error (ref §7.5).
        accepted = {key: body[key] for key in CREATE_FIELDS if key in body}
        if isinstance(accepted.get("customer"), dict):
            accepted["customer"] = {k: v for k, v in accepted["customer"].items() if k in CUSTOMER_FIELDS}
        problems = _validate_create(accepted)
        choice = _scenario_choice(body)
        scenario = None
        try:
            scenario = resolve_scenario(choice if isinstance(choice, str) else self.options.scenario, self.options)
        except ValueError as exc:
            problems.append(f"emulatorScenario: {exc}")
        if problems or scenario is None:
            return answer(vapi_error(400, problems))
        call = CallState(
            id=str(uuid.uuid4()),
            token=secrets.token_urlsafe(18),
            options=self.options,
            request=accepted,
            body=body,
            scenario=scenario,
            audio=CallAudio(scenario),
            monitor_authority=self._authority or request.url.netloc,
        )
        self.calls[call.id] = call
        self._start(call)
        return answer(JSONResponse(call.to_api(), status_code=201))

    async def _get_call(self, request: Request) -> Response:
        call_id = request.path_params["call_id"]

        def answer(response: Response) -> Response:
            return self._respond(request, "/call/{id}", response)

        if not self._authorized(request):
            return answer(vapi_error(401, INVALID_KEY))
        if (fault := await self._fault("get", call_id)) is not None:
            return answer(fault)
        call = self.calls.get(call_id)
        if call is None:
            return answer(vapi_error(404, "Call not found"))
        return answer(JSONResponse(call.to_api()))

    def _list_params(self, request: Request) -> tuple[int, list[tuple[str, datetime]]]:
        params = request.query_params
        try:
            limit = int(params.get("limit", "100"))
        except ValueError:
            raise ValueError("limit must be a number conforming to the specified constraints") from None
        if not 0 <= limit <= 1000:
            raise ValueError("limit must not be greater than 1000")
        dates = [(name, _parse_date(params[name], name)) for name in LIST_DATE_FILTERS if name in params]
        return limit, dates

    async def _list_calls(self, request: Request) -> Response:
        def answer(response: Response) -> Response:
            return self._respond(request, "/call", response)

        if not self._authorized(request):
            return answer(vapi_error(401, INVALID_KEY))
        if (fault := await self._fault("list", None)) is not None:
            return answer(fault)
        try:
            limit, dates = self._list_params(request)
        except ValueError as exc:
            return answer(vapi_error(400, [str(exc)]))
        params = request.query_params
        selected = []
        for call in reversed(self.calls.values()):  # newest first
            if "id" in params and call.id != params["id"]:
                continue
            if any(key in params and call.request.get(key) != params[key] for key in ("assistantId", "phoneNumberId")):
                continue
            if all(_date_filter(call, name, bound) for name, bound in dates):
                selected.append(call.to_api())
        return answer(JSONResponse(selected[:limit]))

    # --- control ---------------------------------------------------------------------------------------------------

    async def _control(self, request: Request) -> Response:
        template = "/{token}/{id}/control"
        call = self._lookup(request.path_params["token"], request.path_params["call_id"])
        raw = await request.body()
        if call is None:
            return self._respond(request, template, vapi_error(self.options.control_not_found_status, "Call not found"))
        parsed = True
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body, parsed = raw.decode("utf-8", "replace"), False
        record = ControlRecord(body=body, status=0, at=time.monotonic())
        call.control_log.append(record)  # recorded as received, whatever the outcome
        response = await self._control_outcome(request, call, body, parsed)
        record.status = response.status_code
        return self._respond(request, template, response)

    async def _control_outcome(self, request: Request, call: CallState, body: Any, parsed: bool) -> Response:
        gone = self.options.control_not_found_status
        if call.ended or not call.control_enabled:
            return vapi_error(gone, "Call not found or already ended")
        if call.control_auth and not _same_secret(_bearer(request.headers), self.options.public_key):
            return vapi_error(401, INVALID_KEY)
        if (fault := await self._fault("control", call.id)) is not None:
            return fault
        if not parsed:
            return vapi_error(400, ["body must be valid JSON"])
        if "application/json" not in request.headers.get("content-type", ""):
            # Vapi's body parser ignores other content types, so the message arrives empty.
            return vapi_error(400, ["content-type must be application/json", *validate_control_message({})])
        problems = validate_control_message(body)
        if problems:
            return vapi_error(400, problems)
        if call.ended:  # it may have ended while a scripted delay ran
            return vapi_error(gone, "Call not found or already ended")
        call.advance()  # bring the audio to "now" so the side effect lands at the right call time
        if call.ended:
            return vapi_error(gone, "Call not found or already ended")
        apply_control(call, body)
        return JSONResponse({"status": "ok"})

    # --- listen ------------------------------------------------------------------------------------------------------

    async def _deny(self, websocket: WebSocket, status: int, message: str) -> None:
        self._log("GET", "/{token}/{id}/listen", status)
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(vapi_error(status, message))
        else:
            await websocket.close(1008, message)

    async def _listen(self, websocket: WebSocket) -> None:
        call = self._lookup(websocket.path_params["token"], websocket.path_params["call_id"])
        if call is None or call.ended or not call.listen_enabled or self._closed:
            await self._deny(websocket, 404, "Call not found or already ended")
            return
        if call.listen_auth and not _same_secret(_bearer(websocket.headers), self.options.public_key):
            await self._deny(websocket, 401, INVALID_KEY)
            return
        finished = asyncio.Event()
        self._sockets.add(finished)
        try:
            await websocket.accept()
            self._log("GET", "/{token}/{id}/listen", 101)
            listener = Listener(call.audio.chunk_sizes() if call.scenario.odd_sizes else None)
            if call.scenario.format_frame:
                listener.push_text(call.audio.format_frame())
            if call.ended:
                listener.close(1000, "call ended")
            else:
                call.listeners.add(listener)
                call.wake.set()  # the producer renders from *now* for this listener
            try:
                await self._pump(websocket, listener)
            finally:
                call.listeners.discard(listener)
        finally:
            finished.set()
            self._sockets.discard(finished)

    async def _pump(self, websocket: WebSocket, listener: Listener) -> None:
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                    while (await websocket.receive())["type"] != "websocket.disconnect":
                        pass
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await self._send_all(websocket, listener)
            group.cancel_scope.cancel()

    async def _send_all(self, websocket: WebSocket, listener: Listener) -> None:
        while True:
            item = await listener.get()
            if item is ABORT:
                abort = websocket.scope.get("extensions", {}).get(ABORT_EXTENSION)
                if abort is not None:
                    abort["abort"]()  # no close frame: the client sees an abnormal closure (1006)
                else:
                    await websocket.close(1011, "connection dropped")
                return
            if isinstance(item, Close):
                await websocket.close(item.code, item.reason)
                return
            if isinstance(item, bytes):
                await websocket.send_bytes(item)
            else:
                await websocket.send_text(json.dumps(item))
