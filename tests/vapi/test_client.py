"""VapiClient over httpx2.MockTransport: the exact REST and control requests it sends, and what it makes of answers."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import httpx2
import pytest

from tests.vapi.common import (
    API_KEY,
    BASE,
    CALL_ID,
    CONTROL_URL,
    HOST,
    LISTEN_URL,
    PUBLIC_KEY,
    REQUEST,
    REQUEST_WIRE,
    FakeVapi,
    Sleeps,
    assert_no_secret,
    call_json,
    exception_texts,
    live_call,
    make_client,
    reply,
)
from vapi_mcp import errors
from vapi_mcp.vapi import (
    AddMessage,
    ChatMessage,
    ContextEngineeringPlan,
    Control,
    ControlMessage,
    EndCall,
    Handoff,
    HandoffAssistantDestination,
    Say,
    Transfer,
    TransferNumberDestination,
    TransferPlan,
    TransferSipDestination,
    to_wire,
)

# --------------------------------------------------------------------------- REST happy paths


async def test_create_call_posts_camel_case_with_private_key() -> None:
    fake = FakeVapi(reply(201, call_json("queued")))
    with anyio.fail_after(5):
        async with make_client(fake, user_agent="vapi-mcp/test") as client:
            call = await client.create_call(REQUEST)
    (request,) = fake.requests
    assert request.method == "POST" and str(request.url) == f"{BASE}/call"
    assert json.loads(request.content) == REQUEST_WIRE
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "vapi-mcp/test"
    assert call.id == CALL_ID and call.status == "queued" and call.control_available


async def test_get_call_and_explicit_timeouts() -> None:
    fake = FakeVapi(reply(200, call_json()))
    with anyio.fail_after(5):
        async with make_client(fake, timeout=7.0) as client:
            call = await client.get_call(CALL_ID)
    (request,) = fake.requests
    assert request.method == "GET" and str(request.url) == f"{BASE}/call/{CALL_ID}"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.extensions["timeout"] == {"connect": 5.0, "read": 7.0, "write": 7.0, "pool": 7.0}
    assert call.status == "in-progress"


async def test_get_call_404_is_call_not_found() -> None:
    fake = FakeVapi(reply(404, {"message": "Call not found", "error": "Not Found", "statusCode": 404}))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.CallNotFound) as info:
                await client.get_call(CALL_ID)
    assert info.value.call_id == CALL_ID and len(fake.requests) == 1


@pytest.mark.parametrize("bad", ["", "../assistant", "a/b", "x?y=1", "c 1", "a" * 200, "a.b", "-lead", "a" * 65])
async def test_get_call_refuses_ids_that_would_change_the_path(bad: str) -> None:
    fake = FakeVapi(reply(200, call_json()))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.InvalidInput):
                await client.get_call(bad)
    assert fake.requests == []


async def test_list_calls_camel_case_params_and_bare_array(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeVapi(reply(200, [call_json(), {**call_json("ended"), "id": "c-2"}, {"status": "no id"}]))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            calls = await client.list_calls(limit=5, assistant_id="asst-1", createdAtGt="2026-01-01T00:00:00Z")
            with pytest.raises(errors.InvalidInput):
                await client.list_calls(status="ended")  # Vapi has no such filter: refuse rather than ignore
            with pytest.raises(errors.InvalidInput):
                await client.list_calls(limit=0)
    (request,) = fake.requests
    assert request.url.path == "/call"
    assert dict(request.url.params) == {"limit": "5", "assistantId": "asst-1", "createdAtGt": "2026-01-01T00:00:00Z"}
    assert [c.id for c in calls] == [CALL_ID, "c-2"]  # the unreadable one is skipped, with a warning
    assert any("cannot read" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


# --------------------------------------------------------------------------- control

CONTROL_MESSAGES: list[tuple[ControlMessage, dict[str, Any]]] = [
    (
        Say(content="A supervisor has joined.", end_call_after_spoken=False, interrupt_assistant_enabled=True),
        {
            "type": "say",
            "content": "A supervisor has joined.",
            "endCallAfterSpoken": False,
            "interruptAssistantEnabled": True,
        },
    ),
    (
        AddMessage(message=ChatMessage(role="system", content="Offer 10%."), trigger_response_enabled=False),
        {
            "type": "add-message",
            "message": {"role": "system", "content": "Offer 10%."},
            "triggerResponseEnabled": False,
        },
    ),
    (Control(control="mute-customer"), {"type": "control", "control": "mute-customer"}),
    (EndCall(), {"type": "end-call"}),
    (
        Transfer(
            destination=TransferNumberDestination(
                number="+14155550199", caller_id="+14155550000", transfer_plan=TransferPlan(mode="blind-transfer")
            ),
            content="Transferring you now.",
        ),
        {
            "type": "transfer",
            "destination": {
                "type": "number",
                "number": "+14155550199",
                "callerId": "+14155550000",
                "transferPlan": {"mode": "blind-transfer"},
            },
            "content": "Transferring you now.",
        },
    ),
    (
        Transfer(
            destination=TransferSipDestination(
                sip_uri="sip:desk@example.com", transfer_plan=TransferPlan(mode="warm-transfer-say-summary")
            )
        ),
        {
            "type": "transfer",
            "destination": {
                "type": "sip",
                "sipUri": "sip:desk@example.com",
                "transferPlan": {"mode": "warm-transfer-say-summary"},
            },
        },
    ),
    (
        Handoff(
            destination=HandoffAssistantDestination(
                assistant_id="asst-2",
                context_engineering_plan=ContextEngineeringPlan(type="lastNMessages", max_messages=10),
            ),
            content="Handing you over.",
        ),
        {
            "type": "handoff",
            "destination": {
                "type": "assistant",
                "assistantId": "asst-2",
                "contextEngineeringPlan": {"type": "lastNMessages", "maxMessages": 10},
            },
            "content": "Handing you over.",
        },
    ),
]


@pytest.mark.parametrize(("message", "wire"), CONTROL_MESSAGES, ids=[w["type"] for _, w in CONTROL_MESSAGES])
async def test_control_posts_exact_json_to_the_control_url_without_private_key(
    message: ControlMessage, wire: dict[str, Any]
) -> None:
    fake = FakeVapi(reply(200, {"status": "ok"}))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            await client.send_control(live_call(), message)
    (request,) = fake.requests
    assert request.method == "POST" and str(request.url) == CONTROL_URL
    assert json.loads(request.content) == wire == to_wire(message)
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers  # no public key configured: no auth at all
    assert API_KEY not in str(request.headers.raw) and API_KEY.encode() not in request.content


async def test_control_sends_the_public_key_never_the_private_one() -> None:
    fake = FakeVapi(reply(204), reply(200, call_json()))
    with anyio.fail_after(5):
        async with make_client(fake, public_key=PUBLIC_KEY, control_timeout=3.0) as client:
            await client.send_control(live_call(), EndCall())
            await client.get_call(CALL_ID)
    control, rest = fake.requests
    assert control.url.host == HOST and control.headers["authorization"] == f"Bearer {PUBLIC_KEY}"
    assert control.extensions["timeout"] == {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    assert all(API_KEY not in value for _, value in control.headers.items())
    assert rest.headers["authorization"] == f"Bearer {API_KEY}"  # the pool is shared; the credential is not


@pytest.mark.parametrize(
    "failure", [httpx2.ReadTimeout, httpx2.WriteTimeout, httpx2.RemoteProtocolError, httpx2.ReadError]
)
async def test_control_delivery_unknown_is_never_retried(failure: type[Exception]) -> None:
    fake = FakeVapi(failure, reply(200))
    sleeps = Sleeps()
    with anyio.fail_after(5):
        async with make_client(fake, sleeps) as client:
            with pytest.raises(errors.DeliveryUnknown) as info:
                await client.send_control(live_call(), Say(content="Say this exactly once."))
    assert len(fake.requests) == 1 and sleeps == []
    assert f"control say for call {CALL_ID}" in str(info.value)
    assert_no_secret(*exception_texts(info.value))


@pytest.mark.parametrize("failure", [httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout])
async def test_control_retried_when_certainly_not_sent(failure: type[Exception]) -> None:
    fake = FakeVapi(failure, reply(200))
    sleeps = Sleeps()
    with anyio.fail_after(5):
        async with make_client(fake, sleeps) as client:
            await client.send_control(live_call(), Say(content="hello"))
    assert len(fake.requests) == 2 and len(sleeps) == 1
    assert fake.bodies() == [{"type": "say", "content": "hello"}] * 2


async def test_control_connect_error_forever_is_unreachable() -> None:
    fake = FakeVapi(httpx2.ConnectError)
    with anyio.fail_after(5):
        async with make_client(fake, max_retries=2) as client:
            with pytest.raises(errors.VapiUnreachable) as info:
                await client.send_control(live_call(), EndCall())
    assert len(fake.requests) == 3
    assert_no_secret(*exception_texts(info.value))


async def test_control_429_is_retried_with_retry_after() -> None:
    fake = FakeVapi(reply(429, headers={"Retry-After": "1"}), reply(200))
    sleeps = Sleeps()
    with anyio.fail_after(5):
        async with make_client(fake, sleeps) as client:
            await client.send_control(live_call(), Control(control="mute-assistant"))
    assert len(fake.requests) == 2 and sleeps == [1.0]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (503, None, "Service Unavailable"),
        (500, {"message": "internal", "error": "Internal Server Error", "statusCode": 500}, "internal"),
        (
            404,
            {"message": "Call not found or ended", "error": "Not Found", "statusCode": 404},
            "Call not found or ended",
        ),
        (400, {"message": ["control must be one of ..."], "error": "Bad Request"}, "control must be one of ..."),
    ],
)
async def test_control_non_2xx_is_rejected_after_one_request(status: int, body: Any, message: str) -> None:
    fake = FakeVapi(reply(status, text="") if body is None else reply(status, body), reply(200))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.ControlRejected) as info:
                await client.send_control(live_call(), EndCall())
    assert len(fake.requests) == 1
    assert info.value.status_code == status
    assert str(info.value) == f"control message refused ({status}): {message}"


async def test_control_401_hints_at_the_public_key() -> None:
    fake = FakeVapi(reply(401, {"message": "Unauthorized", "statusCode": 401}))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.ControlRejected) as info:
                await client.send_control(live_call(), EndCall())
    assert "VAPI_PUBLIC_KEY" in info.value.hint


@pytest.mark.parametrize(
    "monitor",
    [None, {"listenUrl": LISTEN_URL}, {"listenUrl": LISTEN_URL, "controlUrl": ""}, {"controlUrl": "ftp://x/c/control"}],
)
async def test_control_unavailable_without_a_usable_control_url(monitor: dict[str, str] | None) -> None:
    fake = FakeVapi(reply(200))
    call = live_call(monitor=monitor)
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.ControlUnavailable) as info:
                await client.send_control(call, EndCall())
    assert fake.requests == []  # and the URL is never built from the id
    assert "ftp://" not in str(info.value)
    assert_no_secret(*exception_texts(info.value))
