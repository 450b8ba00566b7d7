"""The webhook route end to end: the emulator POSTs Vapi's server messages to the server over loopback.

Every message type becomes its event; an inbound call is supervised with no tool call (list_changed);
refused requests record nothing and the server keeps serving; duplicates are logged once; forwarding
returns the user's server's answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.types import ResourceListChangedNotification

from tests.helpers import call_ok, create_call, read_json, wait_status
from tests.webhooks import SECRET, Receiver, receiving, supervised, until, webhook_options
from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator


@pytest.fixture
def emulator_options() -> EmulatorOptions:
    return webhook_options()


async def events_of(sup: Any, call_id: str) -> list[dict[str, Any]]:
    page = await call_ok(sup.client, "get_call_events", {"call_id": call_id, "limit": 500})
    return list(page["events"])


async def test_every_message_type_becomes_its_event(emulator: Emulator, tmp_path: Path) -> None:
    async with supervised(emulator, tmp_path) as sup:
        with anyio.fail_after(20):
            call_id = await create_call(sup.client)
            await wait_status(sup.client, call_id, "in-progress")
            for kind, fields in (
                ("hang", {}),
                ("user-interrupted", {"turnId": "t-1"}),
                ("language-change-detected", {"language": "es"}),
                ("tool-calls", {"toolCallList": [{"id": "tc-1", "type": "function"}]}),
            ):
                emulator.send_server_message(call_id, {"type": kind, **fields})
            await wait_status(sup.client, call_id, "ended")
            await until(lambda: any(d.type == "end-of-call-report" for d in emulator.webhook_deliveries))
            await until(lambda: sup.supervisor.calls[call_id].report is not None)
            events = await events_of(sup, call_id)
        types = [e["type"] for e in events]
        for wanted in ("speech.update", "call.report", "vapi.hang", "vapi.user-interrupted"):
            assert wanted in types, wanted
        assert "vapi.language-change-detected" in types
        assert {"type": "tool-calls"}.items() <= next(e for e in events if e["type"] == "vapi.message")["data"].items()
        statuses = [e["data"]["status"] for e in events if e["type"] == "call.status"]
        assert statuses[-1] == "ended" and len(statuses) == len(set(statuses))
        finals = [e["data"] for e in events if e["type"] == "transcript" and e["data"]["final"]]
        assert [f["text"] for f in finals] == ["Hello, how can I help?", "Just checking my balance."]
        assert {f["role"] for f in finals} == {"assistant", "customer"}
        report = next(e["data"] for e in events if e["type"] == "call.report")
        assert report["endedReason"] == "customer-ended-call" and report["summary"].startswith("Emulated call")
        full = await read_json(sup.client, f"vapi://calls/{call_id}/report")
        assert full["artifact"]["stereoRecordingUrl"].endswith("-stereo.wav")
        transcript = await sup.client.read_resource(f"vapi://calls/{call_id}/transcript")
        text = transcript.contents[0].text  # type: ignore[union-attr]
        assert text == "assistant: Hello, how can I help?\ncustomer: Just checking my balance.\n"
        dumped = json.dumps(events)
        assert "/listen" not in dumped and "/control" not in dumped and SECRET not in dumped


async def test_an_inbound_call_is_supervised_and_listened_to_with_no_tool_call(
    emulator: Emulator, tmp_path: Path
) -> None:
    messages: list[Any] = []

    async def on_message(message: Any) -> None:
        messages.append(message)

    async with supervised(emulator, tmp_path, message_handler=on_message) as sup:
        with anyio.fail_after(20):
            assert (await sup.client.list_resources()).resources is not None  # the session is known
            before = sum(isinstance(m, ResourceListChangedNotification) for m in messages)
            call_id = emulator.inbound_call()
            await until(lambda: call_id in sup.supervisor.calls)
            await until(lambda: sum(isinstance(m, ResourceListChangedNotification) for m in messages) > before)
            listed = await read_json(sup.client, "vapi://calls")
            assert call_id in [c["call_id"] for c in listed["calls"]]
            await until(lambda: sup.supervisor.calls[call_id].listen_state in ("connected", "closed"))
            await wait_status(sup.client, call_id, "ended")
            events = await events_of(sup, call_id)
            inbox = await call_ok(sup.client, "get_call_events", {"types": ["call.added", "call.ended"]})
        announced = [e for e in inbox["events"] if e["data"].get("call_id") == call_id]
        assert [e["type"] for e in announced] == ["call.added", "call.ended"]  # as attach_call announces a call
        info = await call_ok(sup.client, "get_call", {"call_id": call_id})
        assert info["type"] == "inboundPhoneCall" and info["supervised"]
        assert "listen.connected" in [e["type"] for e in events]


async def test_off_auto_attach_leaves_unknown_calls_alone(emulator: Emulator, tmp_path: Path) -> None:
    async with supervised(emulator, tmp_path, auto_attach=False) as sup:
        with anyio.fail_after(20):
            call_id = emulator.inbound_call()
            await until(lambda: emulator.calls[call_id].status == "ended")
            await until(lambda: any(d.type == "end-of-call-report" for d in emulator.webhook_deliveries))
        assert call_id not in sup.supervisor.calls
        assert all(d.status == 200 for d in emulator.webhook_deliveries)


def _signed(body: bytes, stamp: str, secret: str = SECRET) -> dict[str, str]:
    signature = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"x-signature": signature, "x-timestamp": stamp}


async def test_refused_requests_record_nothing_and_the_server_keeps_serving(emulator: Emulator, tmp_path: Path) -> None:
    async with supervised(emulator, tmp_path) as sup:
        with anyio.fail_after(20):
            call_id = await create_call(sup.client)
            await wait_status(sup.client, call_id, "in-progress")
            log = sup.supervisor.calls[call_id].log
            seen = log.latest_seq
            hang = json.dumps({"message": {"type": "hang", "call": {"id": call_id}}}).encode()
            async with httpx2.AsyncClient() as http:
                refused = [
                    await http.post(sup.url, content=hang),
                    await http.post(sup.url, content=hang, headers={"X-Vapi-Secret": SECRET[:-1] + "x"}),
                    await http.post(sup.url, content=hang, headers={"Authorization": f"Bearer {SECRET}x"}),
                    await http.post(sup.url, content=b"\xff not json", headers={"X-Vapi-Secret": SECRET}),
                    await http.post(sup.url, content=b'{"message": []}', headers={"X-Vapi-Secret": SECRET}),
                    await http.post(sup.url, content=b"x" * (1024 * 1024 + 1), headers={"X-Vapi-Secret": SECRET}),
                    await http.get(sup.url, headers={"X-Vapi-Secret": SECRET}),
                ]
                assert [r.status_code for r in refused] == [401, 401, 401, 400, 400, 413, 405]
                # The call goes on (the emulator's own deliveries keep coming): only the refused hang is absent.
                assert "vapi.hang" not in [e.type for e in log.read(after_seq=seen, limit=1000).events]
                ok = await http.post(sup.url, content=hang, headers={"Authorization": f"Bearer {SECRET}"})
                assert ok.status_code == 200 and ok.json() == {}
        assert "vapi.hang" in [e["type"] for e in await events_of(sup, call_id)]


async def test_hmac_signatures_and_replays(emulator: Emulator, tmp_path: Path) -> None:
    async with supervised(emulator, tmp_path, webhook_hmac=True) as sup:
        with anyio.fail_after(20):
            call_id = await create_call(sup.client)
            await wait_status(sup.client, call_id, "in-progress")
            body = json.dumps({"message": {"type": "hang", "call": {"id": call_id}}}).encode()
            now = str(int(time.time() * 1000))
            stale = str(int(time.time()) - 301)
            async with httpx2.AsyncClient() as http:
                answers = [
                    await http.post(sup.url, content=body, headers={"X-Vapi-Secret": SECRET}),  # not HMAC
                    await http.post(sup.url, content=body, headers=_signed(body, now, "another-secret-xxxxxxxx")),
                    await http.post(sup.url, content=body, headers=_signed(body, stale)),  # a replay
                    await http.post(sup.url, content=body + b" ", headers=_signed(body, now)),  # body changed
                ]
                assert [r.status_code for r in answers] == [401, 401, 401, 401]
                assert "vapi.hang" not in [e.type for e in sup.supervisor.calls[call_id].log.read().events]
                headers = _signed(body, now)
                headers["x-signature"] = "sha256=" + headers["x-signature"]
                assert (await http.post(sup.url, content=body, headers=headers)).status_code == 200
        assert "vapi.hang" in [e["type"] for e in await events_of(sup, call_id)]


async def test_forwarding_returns_the_user_server_s_answer(emulator: Emulator, tmp_path: Path) -> None:
    answer = b'{"assistantId": "asst-from-user-server"}'
    async with receiving(Receiver(status=201, answer=answer)) as user_server:
        async with supervised(emulator, tmp_path, webhook_forward_url=user_server.url) as sup:
            with anyio.fail_after(20):
                call_id = await create_call(sup.client)
                await wait_status(sup.client, call_id, "in-progress")
                emulator.send_server_message(call_id, {"type": "assistant-request"})
                await until(lambda: any(d.type == "assistant-request" for d in emulator.webhook_deliveries))
                await wait_status(sup.client, call_id, "ended")
                await until(lambda: any(d.type == "end-of-call-report" for d in emulator.webhook_deliveries))
                events = await events_of(sup, call_id)
    delivered = next(d for d in emulator.webhook_deliveries if d.type == "assistant-request")
    assert (delivered.status, delivered.body) == (201, answer)
    relayed = [m["type"] for m in user_server.messages()]
    assert relayed.count("assistant-request") == 1 and "status-update" in relayed and "end-of-call-report" in relayed
    assert all(p.headers["x-vapi-secret"] == SECRET for p in user_server.posts)  # its own check still works
    assert "vapi.message" in [e["type"] for e in events]  # and it was recorded too


async def test_a_dead_or_slow_user_server_gets_vapi_an_error(emulator: Emulator, tmp_path: Path) -> None:
    async with receiving(Receiver(delay_s=3.0)) as slow:
        overrides: dict[str, Any] = {"webhook_forward_url": slow.url, "webhook_forward_timeout_s": 0.3}
        async with supervised(emulator, tmp_path, **overrides) as sup, httpx2.AsyncClient() as http:
            with anyio.fail_after(20):
                call_id = await create_call(sup.client)
                body = json.dumps({"message": {"type": "tool-calls", "call": {"id": call_id}}}).encode()
                timed_out = await http.post(sup.url, content=body, headers={"X-Vapi-Secret": SECRET})
                assert timed_out.status_code == 504
    async with supervised(emulator, tmp_path, webhook_forward_url="http://127.0.0.1:9/nothing-here") as sup:
        async with httpx2.AsyncClient() as http:
            body = json.dumps({"message": {"type": "tool-calls"}}).encode()
            dead = await http.post(sup.url, content=body, headers={"X-Vapi-Secret": SECRET})
            assert dead.status_code == 502


async def test_a_line_heard_on_the_listen_socket_and_by_webhook_is_logged_once(tmp_path: Path) -> None:
    options = webhook_options(scenario="support-call", time_scale=4.0)
    async with running_emulator(options) as emulator, supervised(emulator, tmp_path) as sup:
        with anyio.fail_after(30):
            call_id = await create_call(sup.client, listen=True)
            await wait_status(sup.client, call_id, "ended")
            await until(lambda: any(d.type == "end-of-call-report" for d in emulator.webhook_deliveries))
            events = await events_of(sup, call_id)
        finals = [
            (e["data"]["role"], e["data"]["text"]) for e in events if e["type"] == "transcript" and e["data"]["final"]
        ]
        assert len(finals) == len(set(finals)) == 5
        assert sup.supervisor.calls[call_id].gate.duplicates >= 1  # both sources carried lines: one copy dropped


async def test_on_the_http_transport_the_route_sits_beside_mcp(emulator: Emulator, tmp_path: Path) -> None:
    from tests.conftest import make_settings
    from vapi_mcp.face import create_server
    from vapi_mcp.face.http import build_http_server

    token = "http-token-for-tests-0123456789abcdef"
    settings = make_settings(emulator, tmp_path / "data", http_token=token, webhook_secret=SECRET)
    server = build_http_server(create_server(settings), settings, "127.0.0.1", 0)
    body = b'{"message": {"type": "hang"}}'
    async with anyio.create_task_group() as tg, httpx2.AsyncClient() as http:
        tg.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:
                await anyio.sleep(0.01)
            base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
            ok = await http.post(f"{base}/vapi/webhook", content=body, headers={"X-Vapi-Secret": SECRET})
            assert (ok.status_code, ok.json()) == (200, {})
            assert (await http.post(f"{base}/vapi/webhook", content=body)).status_code == 401
            mcp = await http.post(f"{base}/mcp", content=b"{}", headers={"X-Vapi-Secret": SECRET})
            assert mcp.status_code == 401  # the MCP endpoint still wants its own token
        server.should_exit = True


async def test_duplicate_and_out_of_order_deliveries_are_logged_once_in_order(tmp_path: Path) -> None:
    options = webhook_options(webhook_duplicates=True, webhook_out_of_order=True)
    async with running_emulator(options) as emulator, supervised(emulator, tmp_path) as sup:
        with anyio.fail_after(30):
            call_id = await create_call(sup.client)
            await until(lambda: any(d.type == "end-of-call-report" for d in emulator.webhook_deliveries))
            await until(lambda: sup.supervisor.calls[call_id].report is not None)
            events = await events_of(sup, call_id)
    delivered = [d.type for d in emulator.webhook_deliveries]
    assert delivered.count("end-of-call-report") == 2 and delivered.count("status-update") == 6
    statuses = [e["data"]["status"] for e in events if e["type"] == "call.status"]
    assert statuses[-1] == "ended" and len(statuses) == len(set(statuses))  # no status twice, none after ended
    finals = [e["data"]["text"] for e in events if e["type"] == "transcript" and e["data"]["final"]]
    assert sorted(finals) == ["Hello, how can I help?", "Just checking my balance."]
    assert [e["type"] for e in events].count("call.report") == 1
