"""Reading a server message's envelope: tolerant of Vapi's fields, strict about the shape."""

from __future__ import annotations

import json

import pytest

from vapi_mcp.errors import WebhookRefused
from vapi_mcp.vapi.server_messages import MAX_BODY_BYTES, parse_server_message

CALL = {
    "id": "7420f27a-30fd-4f49-a995-5549ae7cc00d",
    "status": "in-progress",
    "monitor": {"listenUrl": "wss://h/x/listen"},
}


def test_a_message_with_its_call() -> None:
    body = {"message": {"type": "status-update", "status": "ended", "timestamp": 1757502858002, "call": CALL, "new": 1}}
    message = parse_server_message(json.dumps(body).encode())
    assert message.type == "status-update" and message.call_id == CALL["id"]
    assert message.timestamp_ms == 1757502858002 and message.body["new"] == 1 and not message.expects_answer
    assert message.call is not None and "wss://h/x/listen" not in repr(message)
    assert parse_server_message(b'{"message": {"type": "assistant-request"}}').expects_answer


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"\xff\xfe", 400),
        (b"[]", 400),
        (b'{"type": "hang"}', 400),
        (b'{"message": {"type": 3}}', 400),
        (b'{"message": {"type": ""}}', 400),
        (b'{"message": {"type": "hang", "call": {"id": "../etc"}}}', 400),
        (b'{"message": {"type": "hang", "call": {"status": "x"}}}', 400),
        (b"[" * 100_000, 400),
        (b" " * (MAX_BODY_BYTES + 1), 413),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, status: int) -> None:
    with pytest.raises(WebhookRefused) as info:
        parse_server_message(body)
    assert info.value.status == status
