"""``vapi-mcp emulator`` flags: every option and scripted faults, from the command line to a running emulator."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import anyio
import httpx2
import pytest

from vapi_mcp.cli import build_parser
from vapi_mcp.emulator import EmulatorOptions, FaultRule
from vapi_mcp.emulator.cli import faults_from_args, options_from_args, parse_fault

KEY = "emu-cli-key-123456"


def parse(*argv: str) -> tuple[EmulatorOptions, list[FaultRule]]:
    args = build_parser().parse_args(["emulator", *argv])
    return options_from_args(args, KEY), faults_from_args(args)


def test_no_flags_is_the_default_emulator() -> None:
    options, faults = parse()
    assert options == EmulatorOptions(api_key=KEY) and faults == []


def test_every_option_has_a_flag() -> None:
    options, _ = parse(
        *("--public-key", "pk-123456", "--scenario", "quick", "--time-scale", "5", "--ring-s", "0"),
        *("--answer-s", "1.5", "--control-not-found-status", "410", "--end-call-reason", "customer-ended-call"),
        *("--monitor-host", "localhost", "--saved-monitoring", "off", "--format-frame", "on", "--odd-sizes", "yes"),
        *("--drop-socket-at-s", "2.5", "--end-when-done", "false"),
    )
    assert options == EmulatorOptions(
        api_key=KEY,
        public_key="pk-123456",
        scenario="quick",
        time_scale=5.0,
        ring_s=0.0,
        answer_s=1.5,
        control_not_found_status=410,
        end_call_reason="customer-ended-call",
        monitor_host="localhost",
        saved_monitoring=False,
        format_frame=True,
        odd_sizes=True,
        drop_socket_at_s=2.5,
        end_when_done=False,
    )


def test_a_new_option_cannot_go_without_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["emulator", "--help"])
    shown = capsys.readouterr().out
    for name in EmulatorOptions.model_fields.keys() - {"api_key", "org_id"}:
        assert f"--{name.replace('_', '-')} " in shown, name


def test_faults_are_parsed_in_order() -> None:
    _, faults = parse(
        "--fault", "create:429:retry_after=0.5:times=2", "--fault", "list:delay=2", "--fault", "get:500:call=c-1"
    )
    assert faults == [
        FaultRule(route="create", status=429, retry_after=0.5, times=2),
        FaultRule(route="list", delay_s=2.0),
        FaultRule(route="get", status=500, call_id="c-1"),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("delete:500", "fault route must be one of create, get, list, control"),
        ("create:200", "status"),
        ("create:429:times=0", "times"),
        ("create:429:every=2", "unknown fault key 'every'"),
        ("list:delay=soon", "delay_s"),
    ],
)
def test_bad_faults_are_refused_with_a_clear_message(
    text: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_fault(text)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["emulator", "--fault", text])
    assert problem in capsys.readouterr().err


def test_a_bad_option_names_the_field_never_the_key() -> None:
    args = build_parser().parse_args(["emulator", "--time-scale", "0"])
    with pytest.raises(ValueError, match="time_scale") as info:
        options_from_args(args, KEY)
    assert KEY not in str(info.value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_flags_reach_the_running_emulator(tmp_path: Path) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "vapi_mcp", "emulator", "--port", str(port), "--api-key", KEY]
    command += ["--saved-monitoring", "off", "--fault", "list:503", "--fault", "create:429:retry_after=0"]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "VAPI_MCP_DATA_DIR": str(tmp_path)}
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {"assistantId": "a", "customer": {"number": "+14155550123"}}
    async with await anyio.open_process(command, env=env) as proc:
        try:
            async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
                with anyio.fail_after(20):
                    while True:
                        try:
                            first = await http.get("/call")
                            break
                        except httpx2.ConnectError:
                            await anyio.sleep(0.1)
                assert first.status_code == 503 and first.json()["statusCode"] == 503
                assert (await http.get("/call")).status_code == 200  # the fault was served once
                limited = await http.post("/call", json=body)
                assert limited.status_code == 429 and limited.headers["retry-after"] == "0"
                created = await http.post("/call", json=body)
                assert created.status_code == 201 and "monitor" not in created.json()  # --saved-monitoring off
        finally:
            proc.terminate()
            with anyio.fail_after(10):
                await proc.wait()
