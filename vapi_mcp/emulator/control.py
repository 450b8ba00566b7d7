"""The control endpoint, ``POST /{token}/{callId}/control`` (reference/vapi-api.md §1, §7.6).

Where Vapi's behaviour is unknown the emulator picks a documented default: success is ``200 {"status": "ok"}``
(clients must not parse it); an unknown or ended call, or one created with ``controlEnabled: false``, answers
``options.control_not_found_status`` (404) with Vapi's error body; with ``controlAuthenticationEnabled`` a
missing or wrong public key is a 401. Every POST is recorded as received (:class:`ControlRecord`), whatever the
outcome, so tests can assert exactly what a client sent.
"""

from __future__ import annotations

import json
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vapi_mcp.emulator.drive import advance
from vapi_mcp.emulator.effects import apply_control
from vapi_mcp.emulator.hub import Hub
from vapi_mcp.emulator.schema import validate_control_message
from vapi_mcp.emulator.state import CallState, ControlRecord
from vapi_mcp.emulator.wire import INVALID_KEY, as_object, bearer, same_secret, vapi_error

__all__ = ["control"]

TEMPLATE = "/{token}/{id}/control"
GONE = "Call not found or already ended"


async def control(hub: Hub, request: Request) -> Response:
    call = hub.lookup(request.path_params["token"], request.path_params["call_id"])
    raw = await request.body()
    if call is None:
        return hub.respond(request, TEMPLATE, vapi_error(hub.options.control_not_found_status, "Call not found"))
    parsed = True
    try:
        body: object = json.loads(raw)
    except ValueError:
        body, parsed = raw.decode("utf-8", "replace"), False
    record = ControlRecord(body=body, status=0, at=time.monotonic())
    call.control_log.append(record)  # recorded as received, whatever the outcome
    response = await _outcome(hub, request, call, body, parsed)
    record.status = response.status_code
    return hub.respond(request, TEMPLATE, response)


async def _outcome(hub: Hub, request: Request, call: CallState, body: object, parsed: bool) -> Response:
    gone = hub.options.control_not_found_status
    if call.ended or not call.control_enabled:
        return vapi_error(gone, GONE)
    if call.control_auth and not same_secret(bearer(request.headers), hub.options.public_key):
        return vapi_error(401, INVALID_KEY)
    if (fault := await hub.faults.serve("control", call.id)) is not None:
        return fault
    if not parsed:
        return vapi_error(400, ["body must be valid JSON"])
    if "application/json" not in request.headers.get("content-type", ""):
        # Vapi's body parser ignores other content types, so the message arrives empty.
        return vapi_error(400, ["content-type must be application/json", *validate_control_message({})])
    problems = validate_control_message(body)
    message = as_object(body)
    if problems or message is None:
        return vapi_error(400, problems)
    if call.ended:  # it may have ended while a scripted delay ran
        return vapi_error(gone, GONE)
    advance(call)  # bring the audio to "now" so the side effect lands at the right call time
    if call.ended:
        return vapi_error(gone, GONE)
    apply_control(call, message)
    return JSONResponse({"status": "ok"})
