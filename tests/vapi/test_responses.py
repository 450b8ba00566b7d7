"""Vapi's error bodies (string and list forms, HTML pages) and unreadable calls, read without leaking a secret."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.vapi.common import (
    CALL_ID,
    REQUEST,
    FakeVapi,
    assert_no_secret,
    call_json,
    exception_texts,
    make_client,
    reply,
)
from vapi_mcp import errors

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
