"""What the VapiClient test modules share: keys, a scripted fake Vapi, and secret checks."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

import httpx2

from vapi_mcp.vapi import Call, CreateCallRequest, Customer, MonitorPlan, VapiClient

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
