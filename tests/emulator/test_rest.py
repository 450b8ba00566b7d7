"""The emulator's REST face: auth, create/get/list, status progression, validation, ignored fields, faults."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest

from tests.emulator.common import KEY, PUBLIC, emulator_options
from vapi_mcp.emulator import Emulator, EmulatorOptions, FaultRule, running_emulator

CUSTOMER = {"number": "+14155550123"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
INVALID_KEY = {
    "message": "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa.",
    "error": "Unauthorized",
    "statusCode": 401,
}


def options(**overrides: Any) -> EmulatorOptions:
    return emulator_options("quick", **overrides)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with running_emulator(options()) as emulator:
        yield emulator


def rest(emu: Emulator, key: str | None = KEY) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx2.AsyncClient(base_url=str(emu.base_url), headers=headers)


async def create(http: httpx2.AsyncClient, **body: Any) -> dict[str, Any]:
    """Create a call (a saved assistant unless told otherwise; a field given as None is left out)."""
    payload = {k: v for k, v in {"assistantId": "asst-1", "customer": CUSTOMER, **body}.items() if v is not None}
    response = await http.post("/call", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


async def test_rest_refuses_missing_wrong_or_public_key(emu: Emulator) -> None:
    with anyio.fail_after(5):
        for key in (None, "wrong", PUBLIC):
            async with rest(emu, key) as http:
                for response in (
                    await http.post("/call", json={"assistantId": "a", "customer": CUSTOMER}),
                    await http.get("/call"),
                    await http.get(f"/call/{uuid.uuid4()}"),
                ):
                    assert response.status_code == 401
                    assert response.json() == INVALID_KEY
        assert emu.calls == {}


async def test_create_get_and_status_progression_to_ended() -> None:
    with anyio.fail_after(8):
        async with running_emulator(options(ring_s=2.0, answer_s=2.0)) as emu, rest(emu) as http:
            call = await create(http, phoneNumberId="pn-1", assistantOverrides={"variableValues": {"x": "y"}})
            assert call["status"] == "queued"
            assert uuid.UUID(call["id"]).version == 4
            assert call["type"] == "outboundPhoneCall"
            assert call["orgId"] and call["phoneNumberId"] == "pn-1" and call["customer"] == CUSTOMER
            assert call["assistantOverrides"] == {"variableValues": {"x": "y"}}
            assert ISO_MS.match(call["createdAt"]) and ISO_MS.match(call["updatedAt"])
            assert "endedReason" not in call and "startedAt" not in call
            seen = [call["status"]]
            while seen[-1] != "ended":
                response = await http.get(f"/call/{call['id']}")
                assert response.status_code == 200
                latest = response.json()
                if latest["status"] != seen[-1]:
                    seen.append(latest["status"])
                await anyio.sleep(0.01)
            assert seen == ["queued", "ringing", "in-progress", "ended"]
            assert latest["endedReason"] == "customer-ended-call"
            assert ISO_MS.match(latest["startedAt"]) and ISO_MS.match(latest["endedAt"])
            assert latest["cost"] > 0
            # the scripted conversation's final transcripts end up in the artifact
            assert [m["role"] for m in latest["artifact"]["messages"]] == ["bot", "user"]
            assert latest["artifact"]["transcript"].startswith("AI: ")


async def test_monitor_urls_are_unguessable_capabilities(emu: Emulator) -> None:
    with anyio.fail_after(5):
        async with rest(emu) as http:
            first, second = await create(http), await create(http)
        port = str(emu.base_url).rsplit(":", 1)[1]
        for call in (first, second):
            listen, control = call["monitor"]["listenUrl"], call["monitor"]["controlUrl"]
            match = re.match(rf"^ws://127\.0\.0\.1:{port}/([^/]+)/{call['id']}/listen$", listen)
            assert match, listen
            token = match.group(1)
            assert len(token) >= 20 and call["id"] not in token
            assert control == f"http://127.0.0.1:{port}/{token}/{call['id']}/control"
        assert first["monitor"]["listenUrl"].split("/")[3] != second["monitor"]["listenUrl"].split("/")[3]


async def test_monitor_plan_controls_which_urls_exist_and_monitor_host() -> None:
    with anyio.fail_after(5):
        async with running_emulator(options(monitor_host="localhost")) as emu, rest(emu) as http:
            listen_off = await create(http, assistantOverrides={"monitorPlan": {"listenEnabled": False}})
            assert set(listen_off["monitor"]) == {"controlUrl"}
            assert listen_off["monitor"]["controlUrl"].startswith("http://localhost:")
            both_off = await create(http, assistant={"monitorPlan": {"listenEnabled": False, "controlEnabled": False}})
            assert "monitor" not in both_off
            # overrides win over the assistant's own plan
            override = await create(
                http,
                assistant={"monitorPlan": {"listenEnabled": False}},
                assistantOverrides={"monitorPlan": {"listenEnabled": True}},
            )
            assert set(override["monitor"]) == {"listenUrl", "controlUrl"}


async def test_list_is_newest_first_and_honours_filters(emu: Emulator) -> None:
    with anyio.fail_after(5):
        async with rest(emu) as http:
            a = await create(http, assistantId="asst-a", phoneNumberId="pn-1")
            await anyio.sleep(0.01)
            b = await create(http, assistantId="asst-b", phoneNumberId="pn-1")
            await anyio.sleep(0.01)
            c = await create(http, assistantId="asst-a", phoneNumberId="pn-2")

            async def ids(**params: Any) -> list[str]:
                response = await http.get("/call", params=params)
                assert response.status_code == 200
                assert isinstance(response.json(), list)  # a bare array, no envelope
                return [call["id"] for call in response.json()]

            assert await ids() == [c["id"], b["id"], a["id"]]
            assert await ids(limit=2) == [c["id"], b["id"]]
            assert await ids(id=b["id"]) == [b["id"]]
            assert await ids(assistantId="asst-a") == [c["id"], a["id"]]
            assert await ids(phoneNumberId="pn-1") == [b["id"], a["id"]]
            assert await ids(createdAtGt=b["createdAt"]) == [c["id"]]
            assert await ids(createdAtLt=b["createdAt"]) == [a["id"]]
            assert await ids(createdAtGe=b["createdAt"], createdAtLe=b["createdAt"]) == [b["id"]]
            bad = await http.get("/call", params={"limit": "many"})
            assert bad.status_code == 400 and isinstance(bad.json()["message"], list)


async def test_unknown_call_is_404_with_vapi_body(emu: Emulator) -> None:
    with anyio.fail_after(5):
        async with rest(emu) as http:
            response = await http.get(f"/call/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.json() == {"message": "Call not found", "error": "Not Found", "statusCode": 404}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"assistantId": "a"}, "customer.number or customer.sipUri"),
        ({"assistantId": "a", "customer": {"number": "4155550123"}}, "E.164"),
        ({"customer": CUSTOMER}, "assistantId"),
        ({"assistant_id": "a", "customer": CUSTOMER}, "assistantId"),  # snake_case is dropped, then missing
        ({"assistantId": 7, "customer": CUSTOMER}, "assistantId must be a string"),
    ],
)
async def test_create_validation_is_400_with_a_message_list(emu: Emulator, body: dict[str, Any], needle: str) -> None:
    with anyio.fail_after(5):
        async with rest(emu) as http:
            response = await http.post("/call", json=body)
        assert response.status_code == 400
        payload = response.json()
        assert payload["error"] == "Bad Request" and payload["statusCode"] == 400
        assert isinstance(payload["message"], list)
        assert any(needle in line for line in payload["message"]), payload
        assert emu.calls == {}


async def test_create_accepts_sip_customer_and_rejects_non_json(emu: Emulator) -> None:
    with anyio.fail_after(5):
        async with rest(emu) as http:
            call = await create(http, customer={"sipUri": "sip:alice@example.com"})
            assert call["customer"] == {"sipUri": "sip:alice@example.com"}
            response = await http.post("/call", content=b"{not json", headers={"content-type": "application/json"})
            assert response.status_code == 400 and response.json()["statusCode"] == 400


async def test_unknown_and_snake_case_fields_are_silently_ignored(emu: Emulator) -> None:
    with anyio.fail_after(5):
        async with rest(emu) as http:
            call = await create(
                http,
                phone_number_id="pn-snake",
                assistant_overrides={"monitorPlan": {"listenEnabled": False}},
                customer={"number": "+14155550123", "first_name": "Sam"},
                somethingNew=True,
            )
        assert "phoneNumberId" not in call and "phone_number_id" not in call and "somethingNew" not in call
        assert "assistantOverrides" not in call
        assert call["customer"] == CUSTOMER
        assert "listenUrl" in call["monitor"]  # the snake_case monitorPlan had no effect, as on Vapi
        assert emu.calls[call["id"]].body["phone_number_id"] == "pn-snake"  # what the client sent, kept for tests


async def test_scenario_knob_is_emulator_only_and_validated(emu: Emulator) -> None:
    with anyio.fail_after(5):
        async with rest(emu) as http:
            call = await create(http, assistantOverrides={"variableValues": {"emulatorScenario": "dead-air"}})
            assert emu.view(call["id"])["scenario"] == "dead-air"
            default = await create(http)
            assert emu.view(default["id"])["scenario"] == "quick"
            bad = await http.post(
                "/call",
                json={"assistantId": "a", "customer": CUSTOMER, "metadata": {"emulatorScenario": "nope"}},
            )
            assert bad.status_code == 400 and "emulatorScenario" in bad.json()["message"][0]


async def test_faults_429_with_retry_after_then_503_then_slow(emu: Emulator) -> None:
    with anyio.fail_after(5):
        emu.add_fault(FaultRule(route="create", status=429, retry_after=2.5))
        emu.add_fault(FaultRule(route="create", status=503, times=2))
        emu.add_fault(FaultRule(route="list", delay_s=0.3))
        async with rest(emu) as http:
            limited = await http.post("/call", json={"assistantId": "a", "customer": CUSTOMER})
            assert limited.status_code == 429
            assert limited.headers["retry-after"] == "2.5"
            assert limited.json()["statusCode"] == 429 and limited.json()["error"] == "Too Many Requests"
            for _ in range(2):
                unavailable = await http.post("/call", json={"assistantId": "a", "customer": CUSTOMER})
                assert unavailable.status_code == 503
                assert unavailable.json() == {
                    "message": "Service Unavailable",
                    "error": "Service Unavailable",
                    "statusCode": 503,
                }
            assert emu.calls == {}  # a faulted request changes nothing
            await create(http)  # faults are consumed
            started = time.monotonic()
            assert (await http.get("/call")).status_code == 200
            assert time.monotonic() - started >= 0.3
            started = time.monotonic()
            await http.get("/call")
            assert time.monotonic() - started < 0.3


async def test_fault_for_one_call_only(emu: Emulator) -> None:
    with anyio.fail_after(5):
        async with rest(emu) as http:
            a, b = await create(http), await create(http)
            emu.add_fault(FaultRule(route="get", status=500, call_id=b["id"]))
            assert (await http.get(f"/call/{a['id']}")).status_code == 200
            assert (await http.get(f"/call/{b['id']}")).status_code == 500
            assert (await http.get(f"/call/{b['id']}")).status_code == 200


async def test_introspection_never_shows_secrets(emu: Emulator) -> None:
    with anyio.fail_after(5):
        async with rest(emu) as http:
            call = await create(http)
            await http.get(f"/call/{call['id']}")
            await http.get("/call", params={"limit": 1})
            control_url = call["monitor"]["controlUrl"]
            await http.post(control_url, json={"type": "say", "content": "hi"})
        token = call["monitor"]["listenUrl"].split("/")[3]
        assert [(r.method, r.path, r.status) for r in emu.request_log] == [
            ("POST", "/call", 201),
            ("GET", "/call/{id}", 200),
            ("GET", "/call", 200),
            ("POST", "/{token}/{id}/control", 200),
        ]
        dumps = repr(emu) + repr(emu.options) + repr(emu.calls) + repr(emu.request_log) + repr(emu.view(call["id"]))
        for secret in (KEY, PUBLIC, token):
            assert secret not in dumps


async def test_list_limit_takes_whole_number_floats_as_vapi_does(emu: Emulator) -> None:
    with anyio.fail_after(5):
        async with rest(emu) as http:
            created = [await create(http) for _ in range(3)]
            for limit in ("2.0", "2", "2e0"):
                response = await http.get("/call", params={"limit": limit})
                assert response.status_code == 200, (limit, response.text)
                assert [c["id"] for c in response.json()] == [created[2]["id"], created[1]["id"]]
            for limit, problem in (("2.5", "must be a number"), ("NaN", "must be a number"), ("-1", "less than 0")):
                response = await http.get("/call", params={"limit": limit})
                assert response.status_code == 400 and problem in response.json()["message"][0], (limit, response.text)


MONITOR_ON = {"monitorPlan": {"listenEnabled": True, "controlEnabled": True}}


async def test_squad_calls_take_monitor_plan_from_squad_overrides_only() -> None:
    with anyio.fail_after(5):
        # saved_monitoring=False: a saved squad whose members have monitoring off, where it shows
        async with running_emulator(options(saved_monitoring=False)) as emu, rest(emu) as http:
            ignored = await create(http, assistantId=None, squadId="squad-1", assistantOverrides=MONITOR_ON)
            assert "monitor" not in ignored, "Vapi applies assistantOverrides to an assistant, not to a squad"
            assert ignored["assistantOverrides"] == MONITOR_ON  # echoed as sent, like any accepted field
            applied = await create(http, assistantId=None, squadId="squad-1", squadOverrides=MONITOR_ON)
            assert set(applied["monitor"]) == {"listenUrl", "controlUrl"}
            assert (await http.get(f"/call/{applied['id']}")).json()["squadOverrides"] == MONITOR_ON
            saved_assistant = await create(http, assistantOverrides=MONITOR_ON)
            assert set(saved_assistant["monitor"]) == {"listenUrl", "controlUrl"}
            assert "monitor" not in await create(http)  # a saved assistant, monitoring off, nothing asked
        async with running_emulator(options()) as emu, rest(emu) as http:
            # by default (the schema's defaults) a plan in the wrong place changes nothing either way
            off = {"monitorPlan": {"listenEnabled": False}}
            squad = await create(http, assistantId=None, squadId="squad-1", assistantOverrides=off)
            assert set(squad["monitor"]) == {"listenUrl", "controlUrl"}
            squad = await create(http, assistantId=None, squadId="squad-1", squadOverrides=off)
            assert set(squad["monitor"]) == {"controlUrl"}


async def test_a_client_that_leaves_during_a_slow_create_gets_no_traceback_and_the_call_exists(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu.add_fault(FaultRule(route="create", delay_s=0.6))
    with anyio.fail_after(10):
        async with rest(emu) as http:
            with pytest.raises(httpx2.ReadTimeout):
                await http.post("/call", json={"assistantId": "a", "customer": CUSTOMER}, timeout=0.2)
            while not emu.calls:  # the server had the request: like Vapi, it goes on without the client
                await anyio.sleep(0.02)
            await anyio.sleep(0.2)
            assert (await http.get("/call")).status_code == 200
    assert len(emu.calls) == 1
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert problems == [], [r.getMessage() for r in problems]
