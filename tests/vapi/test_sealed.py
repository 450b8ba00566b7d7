"""Secrets end to end: no key or monitor URL in any error, repr or log line, httpx2's own included."""

from __future__ import annotations

import logging

import anyio
import httpx2
import pytest

from tests.vapi.common import (
    API_KEY,
    BASE,
    CALL_ID,
    CONTROL_URL,
    LISTEN_URL,
    PUBLIC_KEY,
    REQUEST,
    FakeVapi,
    Reply,
    assert_no_secret,
    call_json,
    exception_texts,
    live_call,
    make_client,
    reply,
)
from vapi_mcp import errors
from vapi_mcp.vapi import (
    Say,
    VapiClient,
)

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
