"""Operator policy: read-only mode and the transfer allowlist, through the real server."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.conftest import make_settings
from tests.helpers import call_err, call_ok, live_call
from vapi_mcp.emulator import Emulator
from vapi_mcp.errors import InvalidInput, NestedTransferNotAllowed, TransferNotAllowed
from vapi_mcp.face import create_server
from vapi_mcp.policy import (
    check_allowlist_entries,
    check_nested_destinations,
    check_transfer_allowed,
    classify_destination,
)
from vapi_mcp.settings import ConfigError, Settings

CHANGING = {"create_call", "say", "add_message", "control_call", "end_call", "transfer_call", "handoff_call"}


async def test_read_only_lists_no_changing_tool(emulator: Emulator, tmp_path: Path, era: str) -> None:
    settings = make_settings(emulator, tmp_path, read_only=True)
    async with Client(create_server(settings), mode=era) as client:  # type: ignore[arg-type]
        with anyio.fail_after(10):
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names.isdisjoint(CHANGING)
            assert {"get_call", "list_calls", "wait_for_event", "get_audio_summary"} <= names
            text = await call_err(client, "end_call", {"call_id": "abc"})
            assert "end_call" in text  # unknown tool, never sent


async def test_transfer_outside_allowlist_is_refused_before_sending(
    emulator: Emulator, tmp_path: Path, era: str
) -> None:
    settings = make_settings(emulator, tmp_path, transfer_allowlist=("+1415555*", "sip:*@pbx.example.com"))
    async with Client(create_server(settings), mode=era) as client:  # type: ignore[arg-type]
        with anyio.fail_after(15):
            call_id = await live_call(client)
            text = await call_err(client, "transfer_call", {"call_id": call_id, "destination": "+442071838750"})
            assert "VAPI_MCP_TRANSFER_ALLOWLIST" in text and "+1415555*" in text and "nothing was sent" in text
            text = await call_err(
                client, "transfer_call", {"call_id": call_id, "destination": "sip:agent@evil.example.com"}
            )
            assert "TransferNotAllowed" in text
            assert emulator.control_log(call_id) == []
            await call_ok(client, "transfer_call", {"call_id": call_id, "destination": "sip:desk@pbx.example.com"})
            assert emulator.control_log(call_id)[-1].body["destination"]["sipUri"] == "sip:desk@pbx.example.com"


@pytest.mark.parametrize(
    ("destination", "kind"),
    [("+14155550123", "number"), ("sip:agent@pbx.example.com", "sip"), ("sips:a@b.c:5061;transport=tls", "sip")],
)
def test_classify_destination(destination: str, kind: str) -> None:
    assert classify_destination(destination) == kind


@pytest.mark.parametrize("bad", ["14155550123", "+0123456789", "+1415555012345678", "sip:", "sip:a@b@c", "tel:+1415"])
def test_classify_rejects(bad: str) -> None:
    with pytest.raises(InvalidInput):
        classify_destination(bad)


def test_allowlist_wildcards_are_literal_otherwise() -> None:
    check_transfer_allowed("+14155550123", ("+1415*",))
    check_transfer_allowed("+14155550123", ())
    with pytest.raises(TransferNotAllowed):
        check_transfer_allowed("+14155550123", ("+1415?550123",))  # '?' is not a wildcard
    with pytest.raises(TransferNotAllowed):
        check_transfer_allowed("sip:a@evil.com", ("sip:*@good.com",))


def test_settings_from_env() -> None:
    env = {
        "VAPI_API_KEY": "k" * 36,
        "VAPI_MCP_READ_ONLY": "yes",
        "VAPI_MCP_RECORD": "0",
        "VAPI_MCP_TRANSFER_ALLOWLIST": "+1415*, sip:*@pbx.example.com",
        "VAPI_MCP_DATA_DIR": "/tmp/vapi-mcp-test",
    }
    settings = Settings.from_env(env)
    assert settings.read_only and not settings.record
    assert settings.transfer_allowlist == ("+1415*", "sip:*@pbx.example.com")
    assert "k" * 36 not in repr(settings)
    with pytest.raises(ConfigError, match="VAPI_MCP_READ_ONLY"):
        Settings.from_env({"VAPI_MCP_READ_ONLY": "maybe"})
    with pytest.raises(ConfigError, match="ALLOWLIST"):
        Settings.from_env({"VAPI_MCP_TRANSFER_ALLOWLIST": "example.com"})


# ------------------------------------------------------------------ issue 8, defects 8 and 9: SIP URIs

ALLOW = ("+1415555*", "sip:*@pbx.example.com")


def test_sip_user_parts_are_case_sensitive_hosts_are_not() -> None:
    """RFC 3261 §19.1.4: sip:Agent@… and sip:agent@… are different users of one host (defect 8)."""
    with pytest.raises(TransferNotAllowed):
        check_transfer_allowed("sip:Agent@pbx.example.com", ("sip:agent@pbx.example.com",))
    with pytest.raises(TransferNotAllowed):
        check_transfer_allowed("sip:agent@pbx.example.com", ("sip:Agent*@pbx.example.com",))
    check_transfer_allowed("sip:agent@PBX.Example.COM", ("sip:agent@pbx.example.com",))
    check_transfer_allowed("sip:agent@pbx.example.com", ("SIP:agent@PBX.example.com",))
    check_transfer_allowed("sip:Agent7@pbx.example.com;Transport=TLS", ("sip:Agent*@pbx.example.com;transport=tls",))


@pytest.mark.parametrize(
    "bad",
    [
        "sip:agent@pbx.example.com:99999",  # defect 9: no such port
        "sip:agent@pbx.example.com:0",
        "sip:agent@-",  # defect 9: not a host
        "sip:agent@-pbx.example.com",
        "sip:agent@pbx-.example.com",
        "sip:agent@pbx..example.com",
        "sip:agent%0D%0A@pbx.example.com",  # defect 9: an escaped CR LF would land in a SIP header
        "sip:agent%0d%0aVia:evil@pbx.example.com",
        "sip:a%00b@pbx.example.com",
        "sip:a%7Fb@pbx.example.com",
        "sip:a%2@pbx.example.com",
        "sip:agent@pbx.example.com;x=%0A",
        "sip:agent@pbx.example.com?Subject=hi",  # headers
        "sip:agent@999.1.1.1",
        "sip:agent@[zz::1]",
        "sip:agent@" + "a" * 64 + ".com",  # a label is at most 63
        "sip:a@" + ".".join(["abcdefgh"] * 30),  # a host is at most 253
        "sip:agent@pbx.example.com\n",
        "sip:a@b@c",
    ],
)
def test_sip_pattern_refuses_what_cannot_be_a_sip_uri(bad: str) -> None:
    with pytest.raises(InvalidInput):
        classify_destination(bad)


@pytest.mark.parametrize(
    "good",
    [
        "sip:agent@pbx.example.com:65535",
        "sip:agent@pbx.example.com:1",
        "sip:pbx.example.com",
        "sip:a.b-c_d!~*'()&=+$,;x@pbx",
        "sip:%41gent@pbx.example.com",
        "sip:agent@192.0.2.10:5060",
        "sip:agent@[2001:db8::1]:5061;transport=tls",
        "sips:agent@pbx.example.com;transport=tls;lr",
    ],
)
def test_sip_pattern_still_accepts_real_uris(good: str) -> None:
    assert classify_destination(good) == "sip"


def test_a_wildcard_never_crosses_a_delimiter() -> None:
    entry = ("sip:desk@*.example.com",)
    check_transfer_allowed("sip:desk@a.b.example.com", entry)
    for sneaky in (
        "sip:desk@evil.com;x=.example.com",  # the * would have eaten ';x='
        "sip:desk@evil.com;maddr=pbx.example.com",
        "sip:desk@a.example.com:5060",  # no port in the entry: none in the destination
        "sip:desk@a.example.com;maddr=evil.com",  # no parameters in the entry: none in the destination
        "sip:x@desk@a.example.com",
    ):
        with pytest.raises((TransferNotAllowed, InvalidInput)):
            check_transfer_allowed(classify_destination(sneaky) and sneaky, entry)
    check_transfer_allowed("sip:desk@pbx.example.com:5080", ("sip:desk@pbx.example.com:*",))
    check_transfer_allowed("sips:x@y.example", ("sips:*",))
    with pytest.raises(TransferNotAllowed):
        check_transfer_allowed("sips:x@y.example", ("sip:*",))  # sip:* is not sips:
    with pytest.raises(TransferNotAllowed):
        check_transfer_allowed("+14155550123", ("sip:*",))


def test_many_wildcards_match_in_bounded_time() -> None:
    """A regex of several .* backtracks for ages on a crafted destination; the part matcher does not."""
    import time

    entry = ("sip:" + "*a" * 12 + "*b@pbx.example.com",)
    started = time.thread_time()  # this thread's CPU: other processes loading the machine do not count
    with pytest.raises(TransferNotAllowed):
        check_transfer_allowed("sip:" + "a" * 400 + "@pbx.example.com", entry)
    assert time.thread_time() - started < 1.0


@pytest.mark.parametrize(
    "bad_entry",
    [
        "example.com",
        "+1415?550123",
        "+1 415 555*",
        "+0123456",
        "sip:",
        "sip:a@b@c",
        "sip:agent@",
        "sip:agent@pbx.example.com:99999",
        "sip:*@pbx;",
        "tel:+14155550123",
        "sip:*@[::1",
    ],
)
def test_allowlist_entries_that_can_never_match_are_refused_at_start(bad_entry: str) -> None:
    with pytest.raises(InvalidInput, match="VAPI_MCP_TRANSFER_ALLOWLIST"):
        check_allowlist_entries([bad_entry])
    with pytest.raises(ConfigError, match="VAPI_MCP_TRANSFER_ALLOWLIST"):
        Settings.from_env({"VAPI_MCP_TRANSFER_ALLOWLIST": f"+1415*, {bad_entry}"})
    # Settings built in code skip from_env: a bad entry still matches nothing there.
    with pytest.raises(TransferNotAllowed):
        check_transfer_allowed("+14155550123", (bad_entry,))


# ------------------------------------------------------------------ issue 8, defect 3: nested destinations

REPORTED = {
    "name": "sneaky",
    "forwardingPhoneNumber": "+19995550000",
    "model": {
        "provider": "openai",
        "model": "gpt-4o",
        "tools": [{"type": "transferCall", "destinations": [{"type": "number", "number": "+19995550000"}]}],
    },
}


def refused_at(value: object, allowlist: tuple[str, ...] = ALLOW, *, path: str = "assistant") -> str:
    with pytest.raises(NestedTransferNotAllowed) as info:
        check_nested_destinations(value, allowlist, path=path)
    assert isinstance(info.value, TransferNotAllowed)  # the face names it, the supervisor may catch the base
    assert "nothing was sent" in info.value.hint
    return info.value.path


def test_the_reported_bypass_is_refused_with_the_rule_and_the_path() -> None:
    with pytest.raises(NestedTransferNotAllowed) as info:
        check_nested_destinations(REPORTED, ALLOW)
    text = str(info.value)
    assert "assistant.forwardingPhoneNumber" in text and "+19995550000" in text
    assert "VAPI_MCP_TRANSFER_ALLOWLIST" in text and "+1415555*" in text
    only_tool = {**REPORTED, "forwardingPhoneNumber": "+14155550100"}
    assert refused_at(only_tool) == "assistant.model.tools[0].destinations[0].number"


def _tool(*destinations: Mapping[str, object], **extra: object) -> dict[str, Any]:
    return {"model": {"tools": [{"type": "transferCall", "destinations": list(destinations), **extra}]}}


EVIL_NUMBER: dict[str, object] = {"type": "number", "number": "+19995550000"}
EVIL_SIP: dict[str, object] = {"type": "sip", "sipUri": "sip:boss@evil.example.com"}


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (_tool(EVIL_SIP), "assistant.model.tools[0].destinations[0].sipUri"),
        (
            _tool(
                {
                    "type": "number",
                    "number": "+14155550100",
                    "transferPlan": {
                        "mode": "warm-transfer-twiml",
                        "twiml": "<Dial><Number>+19995550000</Number></Dial>",
                    },
                }
            ),
            "assistant.model.tools[0].destinations[0].transferPlan.twiml",
        ),
        (
            {"hooks": [{"on": "customer.speech.timeout", "do": [{"type": "transfer", "destination": EVIL_NUMBER}]}]},
            "assistant.hooks[0].do[0].destination.number",
        ),
        (
            {"hooks": [{"on": "call.ending", "do": [{"type": "tool", "tool": _tool(EVIL_SIP)["model"]["tools"][0]}]}]},
            "assistant.hooks[0].do[0].tool.destinations[0].sipUri",
        ),
        (
            {"model": {"tools": [{"type": "handoff", "destinations": [{"type": "assistant", "assistant": REPORTED}]}]}},
            "assistant.model.tools[0].destinations[0].assistant.forwardingPhoneNumber",
        ),
        ({"metadata": {"nested": {"sip_uri": "sip:x@evil.example.com"}}}, "assistant.metadata.nested.sip_uri"),
        ({"fallbackDestination": {"type": "number", "number": "+19995550000"}}, "assistant.fallbackDestination.number"),
        ({"weird": [{"Number": "+19995550000"}]}, "assistant.weird[0].Number"),
        (
            _tool(
                {"type": "number", "number": "+14155550100"},
                function={
                    "name": "transferCall",
                    "parameters": {
                        "type": "object",
                        "properties": {"destination": {"type": "string", "enum": ["+14155550100", "+19995550000"]}},
                    },
                },
            ),
            "assistant.model.tools[0].function.parameters.properties.destination.enum[1]",
        ),
        ({"destination": "+19995550000"}, "assistant.destination"),
    ],
)
def test_every_hiding_place_is_checked(value: object, path: str) -> None:
    assert refused_at(value) == path


def test_squads_members_and_their_overrides_are_walked() -> None:
    squad: dict[str, Any] = {
        "members": [
            {"assistantId": "asst-1", "assistantDestinations": [{"type": "assistant", "assistantName": "b"}]},
            {"assistant": {"name": "b", **_tool({"type": "number", "number": "+14155550100"})}},
            {"assistantId": "asst-2", "assistantOverrides": _tool(EVIL_NUMBER)},
        ],
        "membersOverrides": {},
    }
    assert (
        refused_at(squad, path="squad") == "squad.members[2].assistantOverrides.model.tools[0].destinations[0].number"
    )
    squad["members"].pop()
    found = check_nested_destinations(squad, ALLOW, path="squad")
    assert [f.path for f in found] == ["squad.members[1].assistant.model.tools[0].destinations[0].number"]


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ({"model": {"tools": [{"type": "transferCall"}]}}, "transferCall tool without destinations"),
        (
            {"model": {"tools": [{"type": "transferCall", "destinations": list[object]()}]}},
            "transferCall tool without destinations",
        ),
        (
            {
                "model": {
                    "tools": [
                        {"type": "handoff", "destinations": [{"type": "dynamic", "server": {"url": "https://x"}}]}
                    ]
                }
            },
            "dynamic",
        ),
        ({"hooks": [{"on": "call.ending", "do": [{"type": "transfer"}]}]}, "transfer without a destination"),
        (_tool({"type": "number", "number": "{{boss_number}}"}), "template"),
    ],
)
def test_destinations_decided_at_run_time_are_refused_under_an_allowlist(value: object, what: str) -> None:
    with pytest.raises(NestedTransferNotAllowed, match=what):
        check_nested_destinations(value, ALLOW)
    check_nested_destinations(value, ())  # no allowlist: Vapi resolves them, nothing to check against


def test_allowed_objects_pass_and_report_what_they_hold() -> None:
    assistant = {
        "firstMessage": "Hi",
        "model": {
            "tools": [
                {"type": "function", "function": {"parameters": {"properties": {"number": {"type": "number"}}}}},
                {
                    "type": "transferCall",
                    "destinations": [
                        {
                            "type": "number",
                            "number": "+14155550100",
                            "transferPlan": {
                                "mode": "warm-transfer-twiml",
                                "twiml": "<Say>Customer on the line</Say><Pause length='1'/>",
                            },
                        },
                        {"type": "sip", "sipUri": "sip:Desk@PBX.example.com", "sipHeaders": {"X-Reason": "billing"}},
                        {"type": "assistant", "assistantName": "billing"},
                    ],
                },
            ]
        },
        "assistantOverrides": {"variableValues": {"name": "Ada"}},
        "costs": {"llmPromptTokens": 3},
    }
    found = check_nested_destinations(assistant, ALLOW)
    assert [(f.kind, f.value) for f in found] == [("number", "+14155550100"), ("sip", "sip:Desk@PBX.example.com")]
    assert check_nested_destinations(None, ALLOW) == ()
    assert check_nested_destinations({"assistantId": "asst-1"}, ALLOW) == ()


def test_without_an_allowlist_shapes_are_still_validated() -> None:
    """Decision: "any valid destination" means valid here too, as for transfer_call; a malformed one would
    only be refused by Vapi once a real call exists, and an escaped CR LF in a SIP URI is an injection."""
    found = check_nested_destinations(REPORTED, ())
    assert [f.path for f in found] == [
        "assistant.forwardingPhoneNumber",
        "assistant.model.tools[0].destinations[0].number",
    ]
    for bad in (
        _tool({"type": "sip", "sipUri": "sip:a%0D%0A@pbx.example.com"}),
        _tool({"type": "number", "number": "14155550100"}),
        _tool({"type": "number", "number": 14155550100}),
        {"forwardingPhoneNumber": "call me"},
        _tool({"type": "sip", "sipUri": "+14155550100"}),
    ):
        with pytest.raises(InvalidInput, match=r"assistant\.(model|forwarding)"):
            check_nested_destinations(bad, ())
    # Vapi's own relaxed rule when its E.164 check is turned off (SIP trunks dial short codes).
    relaxed = _tool({"type": "number", "number": "1234", "numberE164CheckEnabled": False})
    assert check_nested_destinations(relaxed, ())[0].value == "1234"
    with pytest.raises(NestedTransferNotAllowed):
        check_nested_destinations(relaxed, ("+1*",))  # a non-E.164 number matches no number entry
    check_nested_destinations(relaxed, ("*",))


def test_too_deep_or_too_large_is_refused_not_half_checked() -> None:
    deep: object = {"number": "+19995550000"}
    for _ in range(100):
        deep = {"x": deep}
    with pytest.raises(InvalidInput, match="too deep"):
        check_nested_destinations(deep, ())
    with pytest.raises(InvalidInput, match="too deep or too large"):
        check_nested_destinations({"x": list(range(200_000))}, ())
