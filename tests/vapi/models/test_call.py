"""The Call object: parsed tolerantly, monitor URLs sealed everywhere."""

from __future__ import annotations

import json
from typing import Any

from vapi_mcp.vapi import (
    Call,
)

LISTEN_URL = "wss://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/7420f27a/listen"
CONTROL_URL = "https://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/7420f27a/control"


CALL_JSON: dict[str, Any] = {
    "id": "7420f27a-30fd-4f49-a995-5549ae7cc00d",
    "orgId": "eb166faa-7145-46ef-8044-589b47ae3b56",
    "type": "outboundPhoneCall",
    "status": "in-progress",
    "createdAt": "2026-09-10T11:14:12.339Z",
    "updatedAt": "2026-09-10T11:14:20.100Z",
    "startedAt": "2026-09-10T11:14:18.002Z",
    "assistantId": "5b0a4a08-133c-4146-9315-0984f8c6be80",
    "assistantOverrides": {"monitorPlan": {"listenEnabled": True, "controlEnabled": True}},
    "phoneNumberId": "42b4b25d-031e-4786-857f-63b346c9580f",
    "customer": {"number": "+12345678913", "name": "Sarah", "numberE164CheckEnabled": True},
    "phoneCallProvider": "twilio",
    "cost": 0,
    "monitor": {"listenUrl": LISTEN_URL, "controlUrl": CONTROL_URL, "monitors": []},
    "messages": [],
    "artifact": {"messages": [], "transcript": ""},
    "transport": {"provider": "vapi.websocket", "websocketCallUrl": "wss://x.vapi.ai/abc/transport"},
}


def test_call_parses_the_reference_example_tolerantly() -> None:
    call = Call.model_validate(CALL_JSON)
    assert call.id == CALL_JSON["id"]
    assert call.status == "in-progress"
    assert call.created_at == "2026-09-10T11:14:12.339Z"
    assert call.customer is not None and call.customer.number == "+12345678913"
    assert call.cost == 0
    assert call.control_available and call.listen_available
    assert call.monitor is not None and call.monitor.control_url is not None
    assert call.monitor.control_url.get_secret_value() == CONTROL_URL
    # unknown statuses are kept, unknown fields ignored
    odd = Call.model_validate({"id": "c", "status": "teleporting", "brandNewField": {"a": 1}})
    assert odd.status == "teleporting" and not odd.control_available and not odd.ended
    assert Call.model_validate({"id": "c", "status": "ended"}).ended


def test_call_never_shows_monitor_urls() -> None:
    call = Call.model_validate(CALL_JSON)
    dumps = [
        repr(call),
        str(call),
        repr(call.monitor),
        str(call.model_dump()),
        json.dumps(call.model_dump(mode="json")),
        call.model_dump_json(),
        json.dumps(call.public_dict()),
        json.dumps(call.raw()),
    ]
    for text in dumps:
        for secret in (LISTEN_URL, CONTROL_URL, "/listen", "/control", "websocketCallUrl"):
            assert secret not in text
    assert call.model_dump(mode="json")["monitor"] == {"listen_url": "**********", "control_url": "**********"}


def test_public_dict_and_raw() -> None:
    call = Call.model_validate(CALL_JSON)
    public = call.public_dict()
    assert "monitor" not in public
    assert public["listen_available"] is True and public["control_available"] is True
    assert public["id"] == CALL_JSON["id"] and public["status"] == "in-progress"
    assert public["customer"]["number"] == "+12345678913"
    json.dumps(public)  # JSON-safe
    raw = call.raw()
    assert raw["artifact"] == {"messages": [], "transcript": ""} and "monitor" not in raw
    raw["artifact"]["transcript"] = "mutated"
    assert call.raw()["artifact"]["transcript"] == ""  # a copy each time

    bare = Call.model_validate({"id": "c", "status": "queued", "monitor": {"controlUrl": ""}})
    assert bare.public_dict()["control_available"] is False and bare.public_dict()["listen_available"] is False
