"""VapiClient against scripted fakes on httpx2.MockTransport: exact requests, error mapping, retries, secrets."""

from __future__ import annotations

import email.utils
import json
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import pytest

from vapi_mcp import errors
from vapi_mcp.vapi import (
    AddMessage,
    Call,
    ChatMessage,
    ContextEngineeringPlan,
    Control,
    ControlMessage,
    CreateCallRequest,
    Customer,
    EndCall,
    Handoff,
    HandoffAssistantDestination,
    MonitorPlan,
    Say,
    Transfer,
    TransferNumberDestination,
    TransferPlan,
    TransferSipDestination,
    VapiClient,
    to_wire,
)

API_KEY = "sk-private-7f3a9c1e5b2d4a6f8e0c"
PUBLIC_KEY = "pk-public-1b2c3d4e5f6a7b8c9d0e"
BASE = "https://api.vapi.test"
CALL_ID = "c-123"
HOST = "phone-call-websocket.aws-us-west-2-backend-production2.vapi.ai"
CONTROL_URL = f"https://{HOST}/{CALL_ID}/control"
LISTEN_URL = f"wss://{HOST}/{CALL_ID}/listen"
SECRETS = (API_KEY, PUBLIC_KEY, CONTROL_URL, LISTEN_URL, f"/{CALL_ID}/control", f"/{CALL_ID}/listen", HOST)

Reply = Callable[[httpx2.Request], httpx2.Response] | type[Exception]


def reply(
    status: int = 200, body: Any = None, *, text: str | None = None, headers: dict[str, str] | None = None
) -> Reply:
    def make(request: httpx2.Request) -> httpx2.Response:
        if text is not None:
            return httpx2.Response(status, text=text, headers=headers)
        return httpx2.Response(status, json=body, headers=headers)

    return make


def call_json(status: str = "in-progress", *, monitor: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": CALL_ID,
        "orgId": "org-1",
        "type": "outboundPhoneCall",
        "status": status,
        "createdAt": "2026-09-10T11:14:12.339Z",
        "updatedAt": "2026-09-10T11:14:12.339Z",
        "customer": {"number": "+14155550123"},
    }
    if monitor:
        data["monitor"] = {"listenUrl": LISTEN_URL, "controlUrl": CONTROL_URL}
    return data


class FakeVapi:
    """Answers each request with the next scripted reply; the last one repeats. Raising replies get the URL in
    their message, as real httpx2 errors may, so a test fails if the client ever stringifies them."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        step = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(step, type) and issubclass(step, Exception):
            raise step(f"failed talking to {request.url}", request=request)  # type: ignore[call-arg]
        return step(request)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(fake: FakeVapi, sleeps: Sleeps | None = None, **kwargs: Any) -> VapiClient:
    return VapiClient(
        API_KEY, BASE, transport=httpx2.MockTransport(fake), sleep=sleeps if sleeps is not None else Sleeps(), **kwargs
    )


def live_call(**changes: Any) -> Call:
    return Call.model_validate({**call_json(), **changes})


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked in {text!r}"


def exception_texts(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc)), getattr(exc, "hint", "")]


REQUEST = CreateCallRequest(
    assistant_id="asst-1",
    phone_number_id="pn-1",
    customer=Customer(number="+14155550123", name="Sarah"),
    assistant_overrides={"monitor_plan": MonitorPlan(listen_enabled=True, control_enabled=True)},
)
REQUEST_WIRE = {
    "assistantId": "asst-1",
    "phoneNumberId": "pn-1",
    "customer": {"number": "+14155550123", "name": "Sarah"},
    "assistantOverrides": {"monitorPlan": {"listenEnabled": True, "controlEnabled": True}},
}


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


@pytest.mark.parametrize("bad", ["", "../assistant", "a/b", "x?y=1", "c 1", "a" * 200])
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


# --------------------------------------------------------------------------- REST errors


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "Invalid phoneNumberId", "error": "Bad Request", "statusCode": 400}, "Invalid phoneNumberId"),
        (
            {"message": ["customer.number must be E.164", "assistantId must be a UUID"], "error": "Bad Request"},
            "customer.number must be E.164; assistantId must be a UUID",
        ),
    ],
)
async def test_error_body_string_and_list_forms(body: dict[str, Any], expected: str) -> None:
    fake = FakeVapi(reply(400, body))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.VapiApiError) as info:
                await client.create_call(REQUEST)
    exc = info.value
    assert type(exc) is errors.VapiApiError
    assert (exc.status_code, exc.vapi_message, exc.error) == (400, expected, "Bad Request")
    assert str(exc) == f"Vapi error 400 Bad Request: {expected}"


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors(status: int) -> None:
    message = "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa."
    fake = FakeVapi(reply(status, {"message": message, "error": "Unauthorized", "statusCode": status}))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.VapiAuthError) as info:
                await client.get_call(CALL_ID)
    assert info.value.status_code == status and info.value.vapi_message == message
    assert len(fake.requests) == 1  # never retried


async def test_non_json_error_body_is_short_and_clean() -> None:
    page = "<html><head><title>500</title></head>\n<body>\x00<h1>Internal   Server Error</h1>" + "x" * 2000
    fake = FakeVapi(reply(500, text=page))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.VapiApiError) as info:
                await client.create_call(REQUEST)
    message = info.value.vapi_message
    assert message.startswith("500 Internal Server Error x")
    assert len(message) <= 300 and "<" not in message and "\n" not in message and "\x00" not in message


async def test_unreadable_call_does_not_quote_the_monitor_urls() -> None:
    broken = {**call_json(), "id": None}  # pydantic would quote the whole input, monitor URLs included
    fake = FakeVapi(reply(200, broken))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.VapiError) as info:
                await client.get_call(CALL_ID)
    assert "id" in str(info.value)
    assert_no_secret(*exception_texts(info.value))


# --------------------------------------------------------------------------- REST retries


async def test_429_retry_after_seconds_is_honoured_then_success() -> None:
    fake = FakeVapi(reply(429, {"message": "slow down"}, headers={"Retry-After": "2"}), reply(200, call_json()))
    sleeps = Sleeps()
    with anyio.fail_after(5):
        async with make_client(fake, sleeps) as client:
            call = await client.get_call(CALL_ID)
    assert call.id == CALL_ID and len(fake.requests) == 2 and sleeps == [2.0]


async def test_429_retry_after_http_date_is_honoured() -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    fake = FakeVapi(reply(429, headers={"Retry-After": when}), reply(201, call_json("queued")))
    sleeps = Sleeps()
    with anyio.fail_after(5):
        async with make_client(fake, sleeps) as client:
            await client.create_call(REQUEST)
    assert len(fake.requests) == 2 and len(sleeps) == 1 and 3.5 <= sleeps[0] <= 5.0
    assert fake.bodies() == [REQUEST_WIRE, REQUEST_WIRE]


async def test_429_forever_gives_up_after_max_retries_with_backoff() -> None:
    fake = FakeVapi(reply(429, {"message": "Too many requests", "error": "Too Many Requests", "statusCode": 429}))
    sleeps = Sleeps()
    with anyio.fail_after(5):
        async with make_client(fake, sleeps, max_retries=3, max_retry_wait_s=100) as client:
            with pytest.raises(errors.VapiRateLimited) as info:
                await client.get_call(CALL_ID)
    assert len(fake.requests) == 4 and len(sleeps) == 3
    for attempt, slept in enumerate(sleeps):  # exponential with jitter: base 0.5 s, halved at most
        assert 0.25 * 2**attempt <= slept <= 0.5 * 2**attempt
    assert info.value.retry_after is None and info.value.vapi_message == "Too many requests"


async def test_retry_after_beyond_the_budget_gives_up_at_once() -> None:
    fake = FakeVapi(reply(429, {"message": "later"}, headers={"Retry-After": "60"}), reply(200, call_json()))
    sleeps = Sleeps()
    with anyio.fail_after(5):
        async with make_client(fake, sleeps, max_retry_wait_s=10) as client:
            with pytest.raises(errors.VapiRateLimited) as info:
                await client.get_call(CALL_ID)
    assert len(fake.requests) == 1 and sleeps == [] and info.value.retry_after == 60.0


async def test_total_sleep_stays_within_the_budget() -> None:
    fake = FakeVapi(reply(429, headers={"Retry-After": "4"}))
    sleeps = Sleeps()
    with anyio.fail_after(5):
        async with make_client(fake, sleeps, max_retries=10, max_retry_wait_s=10) as client:
            with pytest.raises(errors.VapiRateLimited) as info:
                await client.list_calls()
    assert sleeps == [4.0, 4.0] and len(fake.requests) == 3 and info.value.retry_after == 4.0


@pytest.mark.parametrize("first", [reply(503), reply(502, text="Bad Gateway"), reply(504), httpx2.ConnectError])
async def test_get_retries_transient_failures(first: Reply) -> None:
    fake = FakeVapi(first, reply(200, call_json()))
    sleeps = Sleeps()
    with anyio.fail_after(5):
        async with make_client(fake, sleeps) as client:
            assert (await client.get_call(CALL_ID)).id == CALL_ID
    assert len(fake.requests) == 2 and len(sleeps) == 1


@pytest.mark.parametrize(
    ("failure", "raised"),
    [(httpx2.ReadTimeout, errors.VapiTimeout), (httpx2.ConnectError, errors.VapiUnreachable)],
)
async def test_get_gives_up_after_max_retries(failure: type[Exception], raised: type[Exception]) -> None:
    fake = FakeVapi(failure)
    with anyio.fail_after(5):
        async with make_client(fake, max_retries=2) as client:
            with pytest.raises(raised) as info:
                await client.get_call(CALL_ID)
    assert len(fake.requests) == 3
    assert failure.__name__ in str(info.value)
    assert_no_secret(*exception_texts(info.value))
    assert BASE not in str(info.value)


async def test_get_does_not_retry_500() -> None:
    fake = FakeVapi(reply(500, {"message": "boom"}), reply(200, call_json()))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.VapiApiError):
                await client.get_call(CALL_ID)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("failure", [reply(500, {"message": "boom"}), reply(503), reply(502)])
async def test_create_call_not_retried_on_5xx(failure: Reply) -> None:
    fake = FakeVapi(failure, reply(201, call_json("queued")))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.VapiApiError):
                await client.create_call(REQUEST)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("failure", [httpx2.ReadTimeout, httpx2.WriteTimeout, httpx2.RemoteProtocolError])
async def test_create_call_not_retried_when_it_may_have_been_created(failure: type[Exception]) -> None:
    fake = FakeVapi(failure, reply(201, call_json("queued")))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            with pytest.raises(errors.DeliveryUnknown) as info:
                await client.create_call(REQUEST)
    assert len(fake.requests) == 1
    assert "list_calls" in info.value.hint


@pytest.mark.parametrize("failure", [httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout])
async def test_create_call_retried_when_certainly_not_sent(failure: type[Exception]) -> None:
    fake = FakeVapi(failure, reply(201, call_json("queued")))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            call = await client.create_call(REQUEST)
    assert call.status == "queued" and len(fake.requests) == 2


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


# --------------------------------------------------------------------------- secrets end to end


async def test_no_secret_in_any_error_repr_or_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"denied for {API_KEY} / {PUBLIC_KEY} at {CONTROL_URL} and {LISTEN_URL}"
    scenarios: list[tuple[Reply, str]] = [
        (reply(400, {"message": echo, "error": f"Bad {API_KEY}"}), "get"),
        (reply(401, text=f"<p>{echo}</p>"), "create"),
        (reply(429, {"message": echo}, headers={"Retry-After": "99"}), "get"),
        (httpx2.ConnectError, "get"),
        (httpx2.ReadTimeout, "create"),
        (reply(400, {"message": echo}), "control"),
        (reply(401, text=echo), "control"),
        (httpx2.ReadTimeout, "control"),
        (httpx2.ConnectTimeout, "control"),
        (reply(429, {"message": echo}, headers={"Retry-After": "99"}), "control"),
    ]
    texts: list[str] = []
    with anyio.fail_after(10):
        for failure, action in scenarios:
            fake = FakeVapi(failure)
            async with make_client(fake, public_key=PUBLIC_KEY, max_retries=1) as client:
                texts.append(repr(client))
                with pytest.raises(errors.VapiMcpError) as info:
                    if action == "get":
                        await client.get_call(CALL_ID)
                    elif action == "create":
                        await client.create_call(REQUEST)
                    else:
                        await client.send_control(live_call(), Say(content="hi"))
                texts.extend(exception_texts(info.value))
                if isinstance(info.value, errors.VapiApiError | errors.ControlRejected):
                    assert "denied for [redacted]" in str(info.value) or "Bad" in str(info.value)
        # a successful control request too, whose URL httpx2 itself logs at INFO
        async with make_client(FakeVapi(reply(200)), public_key=PUBLIC_KEY) as client:
            await client.send_control(live_call(), Say(content="hi"))
    logged = [caplog.text, *(r.getMessage() for r in caplog.records)]
    assert_no_secret(*texts, *logged)
    # httpx2's own request line is logged with the URL withheld (by the client's filter, or by the
    # process-wide redaction in vapi_mcp.redact when a server was created earlier in this process).
    assert any(
        r.name == "httpx2" and ("[monitor URL withheld]" in r.getMessage() or "[redacted]" in r.getMessage())
        for r in caplog.records
    )
    assert any(f"control say for call {CALL_ID} -> 200" in r.getMessage() for r in caplog.records)


async def test_rest_requests_are_logged_with_path_and_timing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vapi_mcp")
    fake = FakeVapi(reply(503), reply(200, call_json()))
    with anyio.fail_after(5):
        async with make_client(fake) as client:
            await client.get_call(CALL_ID)
    messages = [r.getMessage() for r in caplog.records if r.name == "vapi_mcp.vapi.client"]
    assert any(m.startswith(f"GET /call/{CALL_ID} -> 503 in ") and m.endswith(" ms") for m in messages)
    assert any(m.startswith(f"GET /call/{CALL_ID} -> 503; retry 1 of 3 in ") for m in messages)
    assert any(m.startswith(f"GET /call/{CALL_ID} -> 200 in ") for m in messages)


def test_client_repr_hides_keys() -> None:
    client = VapiClient(API_KEY, BASE, public_key=PUBLIC_KEY, transport=httpx2.MockTransport(FakeVapi(reply())))
    assert repr(client) == f"VapiClient(base_url={BASE!r}, public_key=set)"
    assert_no_secret(repr(client), str(vars(client)))
