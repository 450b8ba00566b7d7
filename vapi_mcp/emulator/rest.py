"""Vapi's REST face for calls: ``POST /call``, ``GET /call/{id}`` and ``GET /call`` (reference §3, §7.1-7.5).

Like Vapi: Bearer auth with the private key (401 with Vapi's body otherwise), unknown and snake_case fields
silently dropped (never an error), NestJS-style 400s that list every problem, and a bare array from the list,
newest first.

Emulator-only knob: a ``POST /call`` may choose its scenario with ``emulatorScenario`` in
``assistantOverrides.variableValues``, ``assistantOverrides.metadata``, ``assistant.metadata`` or a top-level
``metadata`` (real Vapi ignores all of these for that purpose).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from vapi_mcp.emulator.hub import Hub
from vapi_mcp.emulator.options import FaultRoute, resolve_scenario
from vapi_mcp.emulator.schema import E164
from vapi_mcp.emulator.state import CallState
from vapi_mcp.emulator.wire import INVALID_KEY, as_object, vapi_error, whole_number

__all__ = ["create_call", "get_call", "list_calls"]

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
CLIENT_GONE = 499  # logged for a request whose client left before it was read (nginx's convention)
E164_HINT = (
    "customer.number must be a valid phone number in the E.164 format. "
    "Hot tip, you may be missing the country code (Eg. US: +1)."
)


def _scenario_choice(body: dict[str, Any]) -> object:
    overrides = as_object(body.get("assistantOverrides")) or {}
    assistant = as_object(body.get("assistant")) or {}
    for holder in (
        overrides.get("variableValues"),
        overrides.get("metadata"),
        assistant.get("metadata"),
        body.get("metadata"),
    ):
        found = as_object(holder)
        if found is not None and "emulatorScenario" in found:
            return found["emulatorScenario"]
    return None


def _validate_customer(customer: dict[str, Any] | None) -> list[str]:
    if customer is None or not ({"number", "sipUri"} & customer.keys()):
        return ["customer.number or customer.sipUri must be provided"]
    if "number" in customer:
        number = customer["number"]
        e164 = customer.get("numberE164CheckEnabled") is not False
        if not isinstance(number, str) or (e164 and not E164.match(number)):
            return [E164_HINT]
        return []
    sip = customer["sipUri"]
    if not isinstance(sip, str) or not re.match(r"^sips?:", sip):
        return ["customer.sipUri must be a valid SIP URI"]
    return []


def _validate_create(body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key in ("assistant", "assistantOverrides", "squad", "customer", "workflow"):
        if key in body and not isinstance(body[key], dict):
            problems.append(f"{key} must be an object")
    for key in ("assistantId", "squadId", "phoneNumberId", "workflowId", "name"):
        if key in body and not isinstance(body[key], str):
            problems.append(f"{key} must be a string")
    problems.extend(_validate_customer(as_object(body.get("customer"))))
    if not ({"assistantId", "assistant", "squadId", "squad", "workflowId", "workflow"} & body.keys()):
        problems.append("Need either assistantId, assistant, squadId or squad.")
    return problems


def _accepted(body: dict[str, Any]) -> dict[str, Any]:
    """The fields Vapi knows. Like Vapi, unknown (e.g. snake_case) fields are dropped, never an error (ref §7.5)."""
    accepted = {key: body[key] for key in CREATE_FIELDS if key in body}
    customer = as_object(accepted.get("customer"))
    if customer is not None:
        accepted["customer"] = {k: v for k, v in customer.items() if k in CUSTOMER_FIELDS}
    return accepted


async def _refused(hub: Hub, request: Request, route: FaultRoute, call_id: str | None) -> Response | None:
    """Vapi's 401 for a bad key, else the scripted fault for this route (if any); None: serve the request."""
    if not hub.authorized(request):
        return vapi_error(401, INVALID_KEY)
    return await hub.faults.serve(route, call_id)


async def create_call(hub: Hub, request: Request) -> Response:
    def answer(response: Response) -> Response:
        return hub.respond(request, "/call", response)

    if not hub.authorized(request):
        return answer(vapi_error(401, INVALID_KEY))
    try:
        # Read before a scripted delay, as a real server has the body before it is slow: a client that gives up
        # during the delay then leaves a call behind (its outcome is unknown to it), and no traceback here.
        raw = await request.body()
    except ClientDisconnect:
        return answer(Response(status_code=CLIENT_GONE))
    if (fault := await hub.faults.serve("create", None)) is not None:
        return answer(fault)
    try:
        parsed: object = json.loads(raw or b"{}")
    except ValueError:
        return answer(vapi_error(400, "Unexpected token in JSON body"))
    body = as_object(parsed)
    if body is None:
        return answer(vapi_error(400, ["body must be an object"]))
    accepted = _accepted(body)
    problems = _validate_create(accepted)
    choice = _scenario_choice(body)
    scenario = None
    try:
        scenario = resolve_scenario(choice if isinstance(choice, str) else hub.options.scenario, hub.options)
    except ValueError as exc:
        problems.append(f"emulatorScenario: {exc}")
    if problems or scenario is None:
        return answer(vapi_error(400, problems))
    call = hub.new_call(accepted, scenario, authority=request.url.netloc)
    call.body = body
    hub.start(call)
    return answer(JSONResponse(call.to_api(), status_code=201))


async def get_call(hub: Hub, request: Request) -> Response:
    call_id = request.path_params["call_id"]

    def answer(response: Response) -> Response:
        return hub.respond(request, "/call/{id}", response)

    if (refused := await _refused(hub, request, "get", call_id)) is not None:
        return answer(refused)
    call = hub.calls.get(call_id)
    if call is None:
        return answer(vapi_error(404, "Call not found"))
    return answer(JSONResponse(call.to_api()))


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


def _list_params(request: Request) -> tuple[int, list[tuple[str, datetime]]]:
    params = request.query_params
    limit = whole_number(params.get("limit", "100"))  # "2.0" is 2, as for Vapi's JavaScript numbers
    if limit is None:
        raise ValueError("limit must be a number conforming to the specified constraints")
    if limit < 0:
        raise ValueError("limit must not be less than 0")
    if limit > 1000:
        raise ValueError("limit must not be greater than 1000")
    dates = [(name, _parse_date(params[name], name)) for name in LIST_DATE_FILTERS if name in params]
    return limit, dates


async def list_calls(hub: Hub, request: Request) -> Response:
    def answer(response: Response) -> Response:
        return hub.respond(request, "/call", response)

    if (refused := await _refused(hub, request, "list", None)) is not None:
        return answer(refused)
    try:
        limit, dates = _list_params(request)
    except ValueError as exc:
        return answer(vapi_error(400, [str(exc)]))
    params = request.query_params
    selected: list[dict[str, Any]] = []
    for call in reversed(hub.calls.values()):  # newest first
        if "id" in params and call.id != params["id"]:
            continue
        if any(key in params and call.request.get(key) != params[key] for key in ("assistantId", "phoneNumberId")):
            continue
        if all(_date_filter(call, name, bound) for name, bound in dates):
            selected.append(call.to_api())
    return answer(JSONResponse(selected[:limit]))
