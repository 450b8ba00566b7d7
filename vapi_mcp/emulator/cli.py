"""The ``vapi-mcp emulator`` command's flags: every knob of :class:`EmulatorOptions` and scripted faults.

The parser itself lives in ``vapi_mcp.cli``; it calls :func:`add_arguments` for the ``emulator`` subcommand and
:func:`options_from_args` / :func:`faults_from_args` to turn what was parsed into what
:func:`~vapi_mcp.emulator.runner.serve_forever` takes, so the command and the Python API cannot drift apart.

A fault is ``ROUTE[:STATUS][:key=value...]`` with ROUTE one of create, get, list, control and the keys
``times``, ``retry_after``, ``delay`` (seconds) and ``call`` (a call id), for example ``create:429:times=2``,
``list:503``, ``control:delay=2``. Faults are served in the order given.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol, get_args

from pydantic import ValidationError

from vapi_mcp.emulator.options import EmulatorOptions, FaultRoute, FaultRule

__all__ = ["add_arguments", "faults_from_args", "options_from_args", "parse_fault"]

_FAULT_KEYS = {"times": "times", "retry_after": "retry_after", "delay": "delay_s", "call": "call_id"}
# Flags that map one to one onto EmulatorOptions fields (dest = field name).
_OPTION_FLAGS = (
    "public_key",
    "scenario",
    "time_scale",
    "ring_s",
    "answer_s",
    "control_not_found_status",
    "end_call_reason",
    "monitor_host",
    "saved_monitoring",
    "format_frame",
    "odd_sizes",
    "drop_socket_at_s",
    "end_when_done",
    "server_url",
    "server_secret",
    "server_hmac_secret",
    "server_messages",
    "webhook_timeout_s",
    "webhook_duplicates",
    "webhook_out_of_order",
    "webhook_bad_signature",
)


def parse_fault(text: str) -> FaultRule:
    """``create:429:times=2`` → ``FaultRule(route="create", status=429, times=2)``; ValueError when malformed."""
    route, *parts = text.split(":")
    if route not in get_args(FaultRoute):
        raise ValueError(f"fault route must be one of {', '.join(get_args(FaultRoute))}, not {route!r}")
    fields: dict[str, Any] = {"route": route}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep:
            fields["status"] = key
        elif key in _FAULT_KEYS:
            fields[_FAULT_KEYS[key]] = value
        else:
            raise ValueError(f"unknown fault key {key!r}; known: status, {', '.join(_FAULT_KEYS)}")
    try:
        return FaultRule.model_validate(fields)
    except ValidationError as exc:
        raise ValueError(f"bad fault {text!r}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    """Field and reason only: pydantic's own text quotes the input, and an option may be a key."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))


def _fault_type(text: str) -> FaultRule:
    try:
        return parse_fault(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _type_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _switch(text: str) -> bool:
    if text.lower() in ("on", "true", "yes", "1"):
        return True
    if text.lower() in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, not {text!r}")


class _Container(Protocol):
    """An argparse parser or argument group: anything flags can be added to."""

    def add_argument(self, *name_or_flags: str, **kwargs: Any) -> argparse.Action: ...


_METAVARS: dict[Callable[[str], Any], str] = {float: "SECONDS", int: "STATUS", str: "TEXT"}


def _flag(parser: _Container, name: str, kind: Callable[[str], Any], help_text: str) -> None:
    metavar = "on|off" if kind is _switch else _METAVARS.get(kind, "VALUE")
    parser.add_argument(
        f"--{name.replace('_', '-')}", dest=name, type=kind, default=None, metavar=metavar, help=help_text
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags to ``parser`` (the ``vapi-mcp emulator`` subcommand)."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--api-key", default=None, help="the only key it accepts (default $VAPI_API_KEY or generated)")
    _flag(parser, "public_key", str, "public key for listen/control auth (optional)")
    _flag(parser, "scenario", str, "default conversation for new calls (default support-call; long:<seconds>)")
    parser.add_argument(
        "--time-scale", type=float, default=None, metavar="FACTOR", help=">1 runs calls faster than real time"
    )
    timing = parser.add_argument_group("call behaviour")
    _flag(timing, "ring_s", float, "seconds queued before ringing (default 0.3)")
    _flag(timing, "answer_s", float, "seconds ringing before in-progress (default 0.5)")
    _flag(timing, "control_not_found_status", int, "status for control of an unknown/ended call (default 404)")
    _flag(timing, "end_call_reason", str, "endedReason after end-call (default manually-canceled)")
    _flag(timing, "monitor_host", str, "host in the monitor URLs (default: the bound host)")
    _flag(timing, "saved_monitoring", _switch, "on/off: monitorPlan of saved assistants and squads (default on)")
    faults = parser.add_argument_group("faults (for testing clients)")
    _flag(faults, "format_frame", _switch, "on/off: a leading JSON format frame on listen sockets")
    _flag(faults, "odd_sizes", _switch, "on/off: listen messages that ignore sample boundaries")
    _flag(faults, "drop_socket_at_s", float, "drop listen sockets (no close frame) at this call second, once")
    _flag(faults, "end_when_done", _switch, "on/off: end calls when the script is over (default: the scenario's)")
    hooks = parser.add_argument_group("server messages (webhooks, as Vapi posts them to a Server URL)")
    _flag(hooks, "server_url", str, "post server messages here (an assistant's server.url wins)")
    _flag(hooks, "server_secret", str, "send this secret as X-Vapi-Secret")
    _flag(hooks, "server_hmac_secret", str, "sign with Vapi's HMAC credential (x-signature over {timestamp}.{body})")
    hooks.add_argument(
        "--server-messages",
        dest="server_messages",
        type=_type_list,
        default=None,
        metavar="TYPES",
        help="comma list of message types when the assistant names none (default: Vapi's serverMessages default)",
    )
    _flag(hooks, "webhook_timeout_s", float, "give up on a slow Server URL after this long (Vapi's default 20)")
    _flag(hooks, "webhook_duplicates", _switch, "on/off: deliver every message twice")
    _flag(hooks, "webhook_out_of_order", _switch, "on/off: deliver messages in swapped pairs")
    _flag(hooks, "webhook_bad_signature", _switch, "on/off: sign with a wrong HMAC signature")
    faults.add_argument(
        "--fault",
        dest="faults",
        action="append",
        type=_fault_type,
        default=[],
        metavar="ROUTE[:STATUS][:KEY=VALUE...]",
        help="a scripted REST/control fault, repeatable, served in order: e.g. create:429:retry_after=2, "
        "list:503:times=3, control:delay=2, get:500:call=<id>",
    )


def options_from_args(args: argparse.Namespace, api_key: str) -> EmulatorOptions:
    """The :class:`EmulatorOptions` the parsed flags describe (flags not given keep the options' defaults)."""
    given = {name: getattr(args, name) for name in _OPTION_FLAGS if getattr(args, name, None) is not None}
    try:
        return EmulatorOptions(api_key=api_key, **given)
    except ValidationError as exc:
        raise ValueError(f"bad emulator option: {_problems(exc)}") from None


def faults_from_args(args: argparse.Namespace) -> list[FaultRule]:
    faults: list[FaultRule] = getattr(args, "faults", None) or []
    return list(faults)
