"""The ``vapi-mcp`` command.

    vapi-mcp                                     MCP server over stdio (needs VAPI_API_KEY)
    vapi-mcp --transport http --port 8000        streamable HTTP at /mcp (needs VAPI_MCP_HTTP_TOKEN)
    vapi-mcp --webhook-port 8001                 stdio, plus Vapi's server messages at :8001/vapi/webhook
    vapi-mcp --sandbox                           MCP server wired to an in-process Vapi emulator, no key
    vapi-mcp emulator --port 8787                the Vapi emulator alone (REST + control + listen)
    vapi-mcp demo                                a narrated, supervised call against the emulator

Logs go to stderr only: on stdio, stdout is the protocol.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import anyio

from vapi_mcp import __version__
from vapi_mcp.errors import VapiMcpError
from vapi_mcp.redact import install_redaction
from vapi_mcp.settings import Settings

__all__ = ["build_parser", "main"]

log = logging.getLogger("vapi_mcp")


def _add_server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="default: stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument("--sandbox", action="store_true", help="use an in-process Vapi emulator instead of Vapi")
    parser.add_argument("--read-only", action="store_true", default=None, help="expose no tool that changes a call")
    parser.add_argument("--data-dir", type=Path, default=None, help="events journals and recordings (0700)")
    parser.add_argument("--no-record", dest="record", action="store_false", default=None, help="do not record audio")
    parser.add_argument(
        "--allowed-host", action="append", default=None, help="extra Host header allowed over HTTP (repeatable)"
    )
    parser.add_argument(
        "--webhook-port", type=int, default=None, help="also receive Vapi webhooks on this port (POST /vapi/webhook)"
    )
    parser.add_argument("--webhook-host", default=None, help="webhook bind address (default 127.0.0.1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vapi-mcp", description="Supervise live Vapi phone calls over MCP.")
    parser.add_argument("--version", action="version", version=f"vapi-mcp {__version__}")
    parser.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    _add_server_flags(parser)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the MCP server (the default)")
    _add_server_flags(serve)
    from vapi_mcp.emulator import cli as emulator_cli

    emulator_cli.add_arguments(sub.add_parser("emulator", help="run the Vapi emulator alone"))
    demo = sub.add_parser("demo", help="a narrated, supervised call against the emulator")
    demo.add_argument("--time-scale", type=float, default=1.0, help=">1 runs the demo call faster")
    return parser


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {
        "read_only": args.read_only,
        "record": args.record,
        "webhook_port": args.webhook_port,
        "webhook_host": args.webhook_host,
        **extra,
    }
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.allowed_host:
        from vapi_mcp.settings import LOOPBACK_HOSTS

        overrides["allowed_hosts"] = LOOPBACK_HOSTS + tuple(args.allowed_host)
    return Settings.from_env(**overrides)


async def _serve(args: argparse.Namespace) -> None:
    from vapi_mcp.face import create_server

    if args.sandbox:
        from vapi_mcp.emulator import EmulatorOptions, running_emulator

        key = secrets.token_urlsafe(24)
        # A VAPI_PUBLIC_KEY in the environment turns on monitor auth; the emulator must know that key too.
        public_key = os.environ.get("VAPI_PUBLIC_KEY") or None
        async with running_emulator(EmulatorOptions(api_key=key, public_key=public_key)) as emu:
            log.info("sandbox: using the bundled Vapi emulator (no real calls are placed)")
            settings = _settings(args, api_key=key, base_url=emu.base_url)
            await _run_transport(create_server(settings), settings, args)
        return
    settings = _settings(args)
    if settings.api_key is None:
        raise VapiMcpError(
            "VAPI_API_KEY is not set",
            hint="Export your Vapi private key, or try `vapi-mcp --sandbox` / `vapi-mcp demo` with the emulator.",
        )
    await _run_transport(create_server(settings), settings, args)


async def _run_transport(server: Any, settings: Settings, args: argparse.Namespace) -> None:
    if settings.webhook_port is not None:
        from vapi_mcp.face.webhook import serve_webhooks, webhook_server

        webhook_server(server.state, settings)  # no secret: refuse to start, before anything runs
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve_webhooks, server.state, settings)
            await _run_server(server, settings, args)
            tg.cancel_scope.cancel()
        return
    await _run_server(server, settings, args)


async def _run_server(server: Any, settings: Settings, args: argparse.Namespace) -> None:
    if args.transport == "http":
        from vapi_mcp.face.http import serve_http

        await serve_http(server, settings, args.host, args.port)
    else:
        from vapi_mcp.face.stdio import run_stdio

        await run_stdio(server)  # answers unparseable lines with -32700 instead of dropping them


async def _emulator(args: argparse.Namespace) -> None:
    from vapi_mcp.emulator import serve_forever
    from vapi_mcp.emulator.cli import faults_from_args, options_from_args

    key = args.api_key or os.environ.get("VAPI_API_KEY")
    if not key:
        key = secrets.token_urlsafe(24)
        # The one place a key is printed on purpose: the operator needs it to talk to the emulator.
        print(f"emulator API key (generated): {key}", file=sys.stderr, flush=True)
    install_redaction([key])
    try:
        options = options_from_args(args, key)
    except ValueError as exc:
        raise VapiMcpError(str(exc)) from None
    await serve_forever(options, host=args.host, port=args.port, faults=faults_from_args(args))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level or ("WARNING" if args.command == "demo" else "INFO")
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # httpx2 logs every request at INFO; our own client logs what matters.
        for noisy in ("httpx2", "httpcore2", "httpx", "httpcore", "websockets"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    install_redaction()
    try:
        if args.command == "emulator":
            anyio.run(_emulator, args)
        elif args.command == "demo":
            from vapi_mcp.demo import run_demo

            return anyio.run(run_demo, args.time_scale)
        else:
            anyio.run(_serve, args)
    except VapiMcpError as exc:
        print(f"vapi-mcp: {exc}" + (f"\n{exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
