"""The control endpoint: strict validation of every message type, auth, 404 once ended, side effects, faults."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK

from tests.emulator.common import KEY, PUBLIC, emulator_options
from tests.emulator.control_cases import ASSISTANT_ID, ENDING, REJECTED, VALID
from vapi_mcp.emulator import Emulator, EmulatorOptions, FaultRule, running_emulator


def options(**overrides: Any) -> EmulatorOptions:
    return emulator_options("open-ended", **overrides)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with running_emulator(options()) as emulator:
        yield emulator


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=str(emu.base_url), headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


async def live_call(http: httpx2.AsyncClient, **body: Any) -> dict[str, Any]:
    """Create a call and wait until it is in progress; returns the Call object."""
    payload = {"assistantId": ASSISTANT_ID, "customer": {"number": "+14155550199"}, **body}
    created = await http.post("/call", json=payload)
    assert created.status_code == 201, created.text
    call_id = created.json()["id"]
    while True:
        call = (await http.get(f"/call/{call_id}")).json()
        if call["status"] == "in-progress":
            return call
        await anyio.sleep(0.01)


async def get(http: httpx2.AsyncClient, call: dict[str, Any]) -> dict[str, Any]:
    return (await http.get(f"/call/{call['id']}")).json()


async def wait_ended(http: httpx2.AsyncClient, call: dict[str, Any]) -> dict[str, Any]:
    while (latest := await get(http, call))["status"] != "ended":
        await anyio.sleep(0.01)
    return latest


async def test_every_message_type_is_accepted_and_logged_exactly(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http)
        for body in VALID:
            response = await http.post(call["monitor"]["controlUrl"], json=body)
            assert response.status_code == 200, (body, response.text)
        for body in ENDING:
            fresh = await live_call(http)
            response = await http.post(fresh["monitor"]["controlUrl"], json=body)
            assert response.status_code == 200, (body, response.text)
            assert [(r.body, r.status) for r in emu.control_log(fresh["id"])] == [(body, 200)]
        assert [(r.body, r.status) for r in emu.control_log(call["id"])] == [(body, 200) for body in VALID]
        assert (await get(http, call))["status"] == "in-progress"


async def test_every_bad_message_is_400_and_changes_nothing(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http)
        url = call["monitor"]["controlUrl"]
        for body, needle in REJECTED:
            response = await http.post(url, json=body)
            assert response.status_code == 400, (body, response.text)
            payload = response.json()
            assert payload["error"] == "Bad Request" and payload["statusCode"] == 400
            assert isinstance(payload["message"], list)
            assert any(needle in line for line in payload["message"]), (needle, payload["message"])
        not_json = await http.post(url, content=b"{type: say}", headers={"content-type": "application/json"})
        assert not_json.status_code == 400
        form = await http.post(url, content=b'{"type": "end-call"}', headers={"content-type": "text/plain"})
        assert form.status_code == 400 and "content-type must be application/json" in form.json()["message"]
        log = emu.control_log(call["id"])
        assert [r.body for r in log[: len(REJECTED)]] == [body for body, _ in REJECTED]
        assert log[len(REJECTED)].body == "{type: say}"  # the raw text, as received
        assert all(r.status == 400 for r in log)
        view = emu.view(call["id"])
        assert view["status"] == "in-progress" and view["said"] == [] and view["handoffs"] == []


async def test_unknown_token_unknown_call_and_ended_call_are_404(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http)
        url = call["monitor"]["controlUrl"]
        forged = url.replace(url.split("/")[3], "x" * 24)
        response = await http.post(forged, json={"type": "end-call"})
        assert response.status_code == 404 and response.json()["error"] == "Not Found"
        other = url.replace(call["id"], "7420f27a-30fd-4f49-a995-5549ae7cc00d")
        assert (await http.post(other, json={"type": "end-call"})).status_code == 404
        assert emu.view(call["id"])["status"] == "in-progress"
        assert (await http.post(url, json={"type": "end-call"})).status_code == 200
        late = await http.post(url, json={"type": "say", "content": "anyone?"})
        assert late.status_code == 404
        assert late.json()["statusCode"] == 404 and late.json()["error"] == "Not Found"
        assert [r.status for r in emu.control_log(call["id"])] == [200, 404]


async def test_control_not_found_status_is_configurable() -> None:
    with anyio.fail_after(10):
        async with (
            running_emulator(options(control_not_found_status=410)) as emu,
            httpx2.AsyncClient(base_url=str(emu.base_url), headers={"Authorization": f"Bearer {KEY}"}) as http,
        ):
            call = await live_call(http)
            await http.post(call["monitor"]["controlUrl"], json={"type": "end-call"})
            gone = await http.post(call["monitor"]["controlUrl"], json={"type": "end-call"})
            assert gone.status_code == 410 and gone.json()["error"] == "Gone"


async def test_control_authentication_requires_the_public_key(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http, assistantOverrides={"monitorPlan": {"controlAuthenticationEnabled": True}})
        url = call["monitor"]["controlUrl"]
        async with httpx2.AsyncClient() as bare:
            for headers in ({}, {"Authorization": f"Bearer {KEY}"}, {"Authorization": "Bearer nope"}):
                response = await bare.post(url, json={"type": "end-call"}, headers=headers)
                assert response.status_code == 401 and response.json()["error"] == "Unauthorized"
            assert emu.view(call["id"])["status"] == "in-progress"
            ok = await bare.post(url, json={"type": "end-call"}, headers={"Authorization": f"Bearer {PUBLIC}"})
            assert ok.status_code == 200
        assert [r.status for r in emu.control_log(call["id"])] == [401, 401, 401, 200]


async def test_end_call_ends_and_closes_listen_socket_with_1000(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http)
        async with connect(call["monitor"]["listenUrl"]) as ws:
            assert isinstance(await ws.recv(), bytes)
            assert (await http.post(call["monitor"]["controlUrl"], json={"type": "end-call"})).status_code == 200
            with pytest.raises(ConnectionClosedOK):
                while True:
                    await ws.recv()
            assert ws.close_code == 1000
        ended = await get(http, call)
        assert ended["status"] == "ended" and ended["endedReason"] == "manually-canceled"
        assert "endedAt" in ended


async def test_say_adds_speech_and_artifact_then_ends_after_spoken(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http)
        url = call["monitor"]["controlUrl"]
        await http.post(url, json={"type": "say", "content": "Please hold the line."})
        await http.post(url, json={"type": "add-message", "message": {"role": "system", "content": "Be brief."}})
        latest = await get(http, call)
        messages = [(m["role"], m["message"]) for m in latest["artifact"]["messages"]]
        assert ("bot", "Please hold the line.") in messages and ("system", "Be brief.") in messages
        assert emu.view(call["id"])["said"] == ["Please hold the line."]  # add-message says nothing
        await http.post(url, json={"type": "say", "content": "Goodbye now, take care.", "endCallAfterSpoken": True})
        assert (await get(http, call))["status"] == "in-progress"  # not before the words are spoken
        ended = await wait_ended(http, call)
        assert ended["endedReason"] == "assistant-ended-call-after-message-spoken"
        said = emu.ground_truth(call["id"]).transcripts
        assert ("assistant", "Goodbye now, take care.") in said


async def test_mute_flags_and_say_first_message(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http, assistantOverrides={"firstMessage": "Welcome to Acme."})
        url = call["monitor"]["controlUrl"]
        await http.post(url, json={"type": "control", "control": "mute-customer"})
        assert emu.view(call["id"])["muted"] == {"customer": True, "assistant": False}
        await http.post(url, json={"type": "control", "control": "mute-assistant"})
        await http.post(url, json={"type": "control", "control": "unmute-customer"})
        assert emu.view(call["id"])["muted"] == {"customer": False, "assistant": True}
        await http.post(url, json={"type": "control", "control": "say-first-message"})
        assert emu.view(call["id"])["said"] == ["Welcome to Acme."]


async def test_transfer_forwards_then_ends_with_destination(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http)
        destination = {"type": "number", "number": "+14155550123", "transferPlan": {"mode": "blind-transfer"}}
        response = await http.post(call["monitor"]["controlUrl"], json={"type": "transfer", "destination": destination})
        assert response.status_code == 200
        assert (await get(http, call))["destination"] == destination  # forwarding lasts 1 call second only
        ended = await wait_ended(http, call)
        assert ended["endedReason"] == "assistant-forwarded-call" and ended["destination"] == destination
        view = emu.view(call["id"])
        assert view["transfers"][0]["destination"] == destination
        assert view["statuses"][-3:] == ["in-progress", "forwarding", "ended"], "it forwarded, then ended"


async def test_handoff_changes_assistant_and_call_goes_on(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http)
        body = {"type": "handoff", "destination": {"type": "assistant", "assistantName": "billing"}}
        assert (await http.post(call["monitor"]["controlUrl"], json=body)).status_code == 200
        view = emu.view(call["id"])
        assert view["assistant"] == "billing" and view["handoffs"][0]["destination"] == body["destination"]
        assert view["status"] == "in-progress"


async def test_control_faults_are_logged_and_applied_in_order(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http)
        url = call["monitor"]["controlUrl"]
        emu.add_fault(FaultRule(route="control", status=429, retry_after=1, call_id=call["id"]))
        emu.add_fault(FaultRule(route="control", delay_s=0.3))
        limited = await http.post(url, json={"type": "say", "content": "one"})
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        assert emu.view(call["id"])["said"] == []  # a refused message has no effect
        started = time.monotonic()
        slow = await http.post(url, json={"type": "say", "content": "two"})
        assert slow.status_code == 200 and time.monotonic() - started >= 0.3
        assert emu.view(call["id"])["said"] == ["two"]
        assert [(r.body["content"], r.status) for r in emu.control_log(call["id"])] == [("one", 429), ("two", 200)]


async def test_whole_number_floats_are_accepted_as_vapi_does_and_fractions_are_not(
    emu: Emulator, http: httpx2.AsyncClient
) -> None:
    with anyio.fail_after(10):
        call = await live_call(http)
        url = call["monitor"]["controlUrl"]
        plan = {"type": "lastNMessages", "maxMessages": 10.0}  # what vapi-server-sdk 3.0.0 sends
        destination = {"type": "assistant", "assistantId": "asst-2", "contextEngineeringPlan": plan}
        accepted = await http.post(url, json={"type": "handoff", "destination": destination})
        assert accepted.status_code == 200, accepted.text
        assert emu.view(call["id"])["assistant"] == "asst-2"
        refused = await http.post(
            url,
            json={
                "type": "handoff",
                "destination": {
                    **destination,
                    "assistantId": "x",
                    "contextEngineeringPlan": {"type": "lastNMessages", "maxMessages": 10.5},
                },
            },
        )
        assert refused.status_code == 400
        assert refused.json() == {
            "message": ["destination.contextEngineeringPlan.maxMessages must be an integer number"],
            "error": "Bad Request",
            "statusCode": 400,
        }
        assert emu.view(call["id"])["assistant"] == "asst-2"


async def test_a_warm_transfer_without_what_its_mode_needs_is_refused(emu: Emulator, http: httpx2.AsyncClient) -> None:
    with anyio.fail_after(10):
        call = await live_call(http)
        url = call["monitor"]["controlUrl"]
        plan = {"mode": "warm-transfer-say-message"}
        destination = {"type": "number", "number": "+14155550123", "transferPlan": plan}
        refused = await http.post(url, json={"type": "transfer", "destination": destination})
        assert refused.status_code == 400
        assert refused.json() == {
            "message": ["destination.transferPlan.message should not be empty when mode is warm-transfer-say-message"],
            "error": "Bad Request",
            "statusCode": 400,
        }
        assert (await get(http, call))["status"] == "in-progress"  # nothing was transferred
        twiml = {"type": "sip", "sipUri": "sip:desk@example.com", "transferPlan": {"mode": "warm-transfer-twiml"}}
        refused = await http.post(url, json={"type": "transfer", "destination": twiml})
        assert refused.status_code == 400 and "transferPlan.twiml should not be empty" in refused.json()["message"][0]
        plan["message"] = "Ada is calling about her invoice."
        accepted = await http.post(url, json={"type": "transfer", "destination": destination})
        assert accepted.status_code == 200, accepted.text
        assert (await get(http, call))["status"] in ("forwarding", "ended")
