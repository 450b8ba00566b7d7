"""The emulator posts server messages as Vapi does: shapes checked against Vapi's own SDK types, credentials,
the assistant's Server URL and serverMessages, and the misbehaviour knobs (duplicates, order, bad signature,
a slow receiver, an inbound call)."""

from __future__ import annotations

import hashlib
import hmac
import typing
from typing import Any

import anyio
import httpx2
import pytest

from tests.conftest import API_KEY
from tests.webhooks import SECRET, Receiver, receiving, until, webhook_options
from vapi_mcp.emulator import Emulator, running_emulator

pytest.importorskip("vapi.types", reason="vapi-server-sdk (Vapi's Python SDK) is not installed")

from vapi import types as sdk


def sdk_models() -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    """(the SDK's model of each message kind, the literal types of its enum-like fields).

    Built when the one test that needs them runs, not at import: resolving these SDK types takes seconds of CPU,
    which every pytest-xdist worker would otherwise spend collecting this module.
    """
    models: dict[str, Any] = {
        "status-update": sdk.ServerMessageStatusUpdate,
        "transcript": sdk.ServerMessageTranscript,
        "speech-update": sdk.ServerMessageSpeechUpdate,
        "end-of-call-report": sdk.ServerMessageEndOfCallReport,
        "conversation-update": sdk.ServerMessageConversationUpdate,
        "hang": sdk.ServerMessageHang,
        "user-interrupted": sdk.ServerMessageUserInterrupted,
        "transfer-update": sdk.ServerMessageTransferUpdate,
        "language-change-detected": sdk.ServerMessageLanguageChangeDetected,
    }
    # Fields typed as Union[Literal[...], Any] in the SDK: the value must be one of the literals all the same.
    enums: dict[tuple[str, str], Any] = {
        ("status-update", "status"): sdk.ServerMessageStatusUpdateStatus,
        ("transcript", "role"): sdk.ServerMessageTranscriptRole,
        ("transcript", "transcriptType"): sdk.ServerMessageTranscriptTranscriptType,
        ("speech-update", "status"): sdk.ServerMessageSpeechUpdateStatus,
        ("speech-update", "role"): sdk.ServerMessageSpeechUpdateRole,
    }
    return models, enums


def literals(alias: Any) -> set[str]:
    found: set[str] = set()
    for arg in typing.get_args(alias):
        found.update(typing.get_args(arg) if typing.get_origin(arg) is typing.Literal else ())
    return found


async def place_call(emu: Emulator, **body: Any) -> str:
    request = {"customer": {"number": "+14155550123"}, "assistantId": "asst-1", **body}
    async with httpx2.AsyncClient(base_url=str(emu.base_url)) as http:
        created = await http.post("/call", json=request, headers={"Authorization": f"Bearer {API_KEY}"})
    assert created.status_code == 201
    return str(created.json()["id"])


def signed_right(post: Any) -> bool:
    stamp = post.headers["x-timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + post.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, post.headers["x-signature"])


async def test_every_message_has_vapi_s_shape_and_signature() -> None:
    async with receiving() as receiver:
        options = webhook_options(server_url=receiver.url, server_secret=None, server_hmac_secret=SECRET)
        async with running_emulator(options) as emu:
            with anyio.fail_after(20):
                call_id = await place_call(emu)
                await until(lambda: emu.calls[call_id].status == "in-progress")
                emu.send_server_message(call_id, {"type": "hang"})
                emu.send_server_message(call_id, {"type": "user-interrupted", "turnId": "t-1"})
                emu.send_server_message(call_id, {"type": "language-change-detected", "language": "es"})
                emu.send_server_message(
                    call_id, {"type": "transfer-update", "destination": {"type": "number", "number": "+14155550100"}}
                )
                await until(lambda: "end-of-call-report" in [m["type"] for m in receiver.messages()])
    models, enums = sdk_models()
    kinds = {m["type"] for m in receiver.messages()}
    assert set(models) <= kinds
    for post in receiver.posts:
        assert signed_right(post) and "x-vapi-secret" not in post.headers
        message = post.json()["message"]
        model = models[message["type"]].model_validate(message)
        assert model.call is not None and model.call.id == call_id
        assert isinstance(message["timestamp"], int)
        for (kind, name), alias in enums.items():
            if message["type"] == kind:
                assert message[name] in literals(alias), (kind, name, message[name])
    statuses = [m["status"] for m in receiver.messages() if m["type"] == "status-update"]
    assert statuses == ["ringing", "in-progress", "ended"]


async def test_the_assistant_s_server_url_headers_and_server_messages_win() -> None:
    async with receiving() as default, receiving() as own:
        async with running_emulator(webhook_options(server_url=default.url)) as emu:
            assistant = {
                "server": {"url": own.url, "headers": {"x-team": "support"}},
                "serverMessages": ["status-update"],
            }
            with anyio.fail_after(20):
                call_id = await place_call(emu, assistant=assistant)
                other = await place_call(emu)
                await until(lambda: emu.calls[call_id].ended and emu.calls[other].ended)
                await until(lambda: len([d for d in emu.webhook_deliveries if d.type == "end-of-call-report"]) == 1)
    assert {m["type"] for m in own.messages()} == {"status-update"}
    assert all(p.headers["x-team"] == "support" and p.headers["x-vapi-secret"] == SECRET for p in own.posts)
    assert {m["call"]["id"] for m in default.messages()} == {other}
    assert "transcript" in {m["type"] for m in default.messages()}
    assert all(p.headers["x-vapi-secret"] == SECRET for p in default.posts)


async def test_duplicates_swapped_pairs_a_bad_signature_and_an_inbound_call() -> None:
    async with receiving() as receiver:
        options = webhook_options(
            server_url=receiver.url,
            server_secret=None,
            server_hmac_secret=SECRET,
            webhook_duplicates=True,
            webhook_out_of_order=True,
            webhook_bad_signature=True,
            server_messages=("status-update",),
        )
        async with running_emulator(options) as emu:
            with anyio.fail_after(20):
                call_id = emu.inbound_call()
                await until(lambda: emu.calls[call_id].ended)
                await until(lambda: len(receiver.posts) >= 8)
    messages = receiver.messages()
    assert messages[0]["call"]["type"] == "inboundPhoneCall"
    statuses = [m["status"] for m in messages]
    assert sorted(statuses) == sorted(["queued", "ringing", "in-progress", "ended"] * 2)
    assert statuses[0::2] == statuses[1::2]  # each one twice in a row
    assert statuses[0::2] != ["queued", "ringing", "in-progress", "ended"]  # not in the order they happened
    assert not any(signed_right(post) for post in receiver.posts)


async def test_a_slow_receiver_is_given_up_on() -> None:
    async with receiving(Receiver(delay_s=2.0)) as receiver:
        options = webhook_options(server_url=receiver.url, webhook_timeout_s=0.2, server_messages=("hang",))
        async with running_emulator(options) as emu:
            with anyio.fail_after(20):
                call_id = await place_call(emu)
                emu.send_server_message(call_id, {"type": "hang"})
                await until(lambda: len(emu.webhook_deliveries) == 1)
    assert emu.webhook_deliveries[0].status == 0
