"""Confirmations through MCP elicitation, in both protocol eras: yes acts, no / cancel send nothing to Vapi."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from tests.conftest import make_settings
from tests.helpers import call_err, call_ok, live_call
from vapi_mcp.emulator import Emulator
from vapi_mcp.face import create_server

ACTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("end_call", {}, "end-call"),
    ("transfer_call", {"destination": "+14155550199"}, "transfer"),
    ("handoff_call", {"assistant_id": "asst-2"}, "handoff"),
]


class Human:
    """An elicitation callback that answers every question the same way, and remembers the questions."""

    def __init__(self, action: str, confirm: bool = True) -> None:
        self.action = action
        self.confirm = confirm
        self.questions: list[str] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.questions.append(params.message)
        if self.action == "accept":
            return ElicitResult(action="accept", content={"confirm": self.confirm})
        return ElicitResult(action=self.action)  # type: ignore[arg-type]


def control_types(emulator: Emulator, call_id: str) -> list[str]:
    return [record.body.get("type") for record in emulator.control_log(call_id)]


@pytest.mark.parametrize(("tool", "extra", "wire_type"), ACTIONS)
async def test_a_yes_acts_and_a_no_sends_nothing(
    emulator: Emulator, tmp_path: Path, era: str, tool: str, extra: dict[str, Any], wire_type: str
) -> None:
    settings = make_settings(emulator, tmp_path)
    server = create_server(settings)
    for answer, confirm, said in (
        ("decline", True, "declined"),
        ("cancel", True, "cancelled"),
        ("accept", False, "no"),
    ):
        human = Human(answer, confirm)
        async with Client(server, mode=era, elicitation_callback=human) as client:  # type: ignore[arg-type]
            with anyio.fail_after(15):
                call_id = await live_call(client)
                text = await call_err(client, tool, {"call_id": call_id, **extra})
                assert "NotConfirmed" in text and said in text and "Nothing was sent to Vapi" in text, text
                assert control_types(emulator, call_id) == [], "a refused confirmation sends nothing"
                assert len(human.questions) == 1 and call_id in human.questions[0]
    human = Human("accept")
    async with Client(server, mode=era, elicitation_callback=human) as client:  # type: ignore[arg-type]
        with anyio.fail_after(15):
            call_id = await live_call(client)
            result = await call_ok(client, tool, {"call_id": call_id, **extra})
            assert result["type"] == wire_type and control_types(emulator, call_id) == [wire_type]
            assert len(human.questions) == 1


async def test_the_question_says_what_will_happen(emulator: Emulator, tmp_path: Path) -> None:
    human = Human("decline")
    async with Client(create_server(make_settings(emulator, tmp_path)), elicitation_callback=human) as client:
        with anyio.fail_after(15):
            call_id = await live_call(client)
            await call_err(client, "transfer_call", {"call_id": call_id, "destination": "+14155550199"})
            assert "+14155550199" in human.questions[0] and "transfer" in human.questions[0].lower()


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_without_elicitation_auto_goes_ahead_and_always_refuses(
    emulator: Emulator, tmp_path: Path, era: str
) -> None:
    async with Client(create_server(make_settings(emulator, tmp_path / "auto")), mode=era) as client:  # type: ignore[arg-type]
        with anyio.fail_after(15):
            call_id = await live_call(client)
            await call_ok(client, "end_call", {"call_id": call_id})
            assert control_types(emulator, call_id) == ["end-call"]
    settings = make_settings(emulator, tmp_path / "always", confirm="always")
    async with Client(create_server(settings), mode=era) as client:  # type: ignore[arg-type]
        with anyio.fail_after(15):
            call_id = await live_call(client)
            text = await call_err(client, "end_call", {"call_id": call_id})
            assert "VAPI_MCP_CONFIRM=always" in text and "Nothing was sent to Vapi" in text
            assert control_types(emulator, call_id) == []


async def test_never_does_not_ask(emulator: Emulator, tmp_path: Path) -> None:
    human = Human("decline")
    settings = make_settings(emulator, tmp_path, confirm="never")
    async with Client(create_server(settings), elicitation_callback=human) as client:
        with anyio.fail_after(15):
            call_id = await live_call(client)
            await call_ok(client, "end_call", {"call_id": call_id})
            assert human.questions == [] and control_types(emulator, call_id) == ["end-call"]


async def test_a_transfer_the_policy_refuses_asks_nobody(emulator: Emulator, tmp_path: Path) -> None:
    human = Human("accept")
    settings = make_settings(emulator, tmp_path, transfer_allowlist=("+1415555*",))
    async with Client(create_server(settings), elicitation_callback=human) as client:
        with anyio.fail_after(15):
            call_id = await live_call(client)
            text = await call_err(client, "transfer_call", {"call_id": call_id, "destination": "+442071838750"})
            assert "VAPI_MCP_TRANSFER_ALLOWLIST" in text and human.questions == []
            assert control_types(emulator, call_id) == []
