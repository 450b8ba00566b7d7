"""Retries: Retry-After honoured within a budget, bounded backoff, and never a second call or a second say."""

from __future__ import annotations

import email.utils
import time

import anyio
import httpx2
import pytest

from tests.vapi.common import (
    BASE,
    CALL_ID,
    REQUEST,
    REQUEST_WIRE,
    FakeVapi,
    Reply,
    Sleeps,
    assert_no_secret,
    call_json,
    exception_texts,
    make_client,
    reply,
)
from vapi_mcp import errors

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
