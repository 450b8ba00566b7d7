"""Operator policy: read-only mode and the transfer allowlist, through the real server."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.conftest import make_settings
from tests.helpers import call_err, call_ok, live_call
from vapi_mcp.emulator import Emulator
from vapi_mcp.errors import InvalidInput, TransferNotAllowed
from vapi_mcp.face import create_server
from vapi_mcp.policy import check_transfer_allowed, classify_destination
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
        "VAPI_API_KEY": "k" * 10,
        "VAPI_MCP_READ_ONLY": "yes",
        "VAPI_MCP_RECORD": "0",
        "VAPI_MCP_TRANSFER_ALLOWLIST": "+1415*, sip:*@pbx.example.com",
        "VAPI_MCP_DATA_DIR": "/tmp/vapi-mcp-test",
    }
    settings = Settings.from_env(env)
    assert settings.read_only and not settings.record
    assert settings.transfer_allowlist == ("+1415*", "sip:*@pbx.example.com")
    assert "k" * 10 not in repr(settings)
    with pytest.raises(ConfigError, match="VAPI_MCP_READ_ONLY"):
        Settings.from_env({"VAPI_MCP_READ_ONLY": "maybe"})
    with pytest.raises(ConfigError, match="ALLOWLIST"):
        Settings.from_env({"VAPI_MCP_TRANSFER_ALLOWLIST": "example.com"})
