"""Run an installed vapi-mcp the way `uvx vapi-mcp` will: `vapi-mcp --sandbox` over stdio, driven by the SDK client.

    python scripts/release_smoke.py [--command PATH] [--timeout SECONDS]

Run it with the Python of the environment the wheel was installed into, from a directory outside the checkout
(scripts/release-check.sh does both). It refuses to run if `vapi_mcp` would be imported from a source tree,
then starts the installed console script with `--sandbox` (an in-process emulator, no key), initialises over
stdio, lists the tools and checks the contract's core tools carry annotations and output schemas, creates a
call, reads it back with `get_call` and finds it in `list_calls`. Exits non-zero on the first failed check.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

CORE_TOOLS = {"create_call", "get_call", "list_calls", "say", "end_call", "get_call_events", "wait_for_event"}
CALL_STATUSES = {"scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"}


class SmokeFailure(Exception):
    pass


def check(ok: bool, what: str) -> None:
    if not ok:
        raise SmokeFailure(what)


def installed_origin() -> Path:
    """Where `import vapi_mcp` resolves; it must be this environment's site-packages, not a checkout."""
    spec = importlib.util.find_spec("vapi_mcp")
    check(spec is not None and spec.origin is not None, "vapi_mcp is not installed in this environment")
    assert spec is not None and spec.origin is not None
    origin = Path(spec.origin).resolve()
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    check(origin.is_relative_to(site), f"vapi_mcp resolves to {origin}, not to the installed copy under {site}")
    return origin


async def call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    text = " ".join(block.text for block in result.content if isinstance(block, TextContent))
    check(not result.is_error, f"{tool} returned an error: {text[:300]}")
    check(isinstance(result.structured_content, dict), f"{tool} returned no structured content")
    assert result.structured_content is not None
    return result.structured_content


async def smoke(command: str, workdir: Path) -> list[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir), "VAPI_MCP_DATA_DIR": str(workdir / "data")}
    params = StdioServerParameters(command=command, args=["--sandbox"], env=env, cwd=str(workdir))
    notes: list[str] = []
    async with Client(params) as client:
        notes.append(f"protocol {client.protocol_version}")
        tools = (await client.list_tools()).tools
        names = {tool.name for tool in tools}
        check(CORE_TOOLS <= names, f"tools missing: {sorted(CORE_TOOLS - names)}")
        for tool in tools:
            check(tool.annotations is not None, f"{tool.name} has no annotations")
            check(tool.output_schema is not None, f"{tool.name} has no output schema")
        notes.append(f"{len(tools)} tools")

        args = {"customer_number": "+14155550123", "assistant_id": "asst-release-check", "listen": False}
        created = await call(client, "create_call", args)
        call_id = str(created.get("call_id") or "")
        check(bool(call_id), f"create_call gave no call_id: {created}")
        got = await call(client, "get_call", {"call_id": call_id})
        check(got.get("call_id") == call_id, f"get_call answered for another call: {got}")
        check(got.get("status") in CALL_STATUSES, f"get_call status is not a Vapi call status: {got.get('status')}")
        listed = await call(client, "list_calls", {"limit": 10})
        check(call_id in str(listed), f"list_calls does not show {call_id}: {str(listed)[:300]}")
        notes.append(f"call {got['status']}, listed")
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    default = Path(sys.executable).parent / ("vapi-mcp.exe" if os.name == "nt" else "vapi-mcp")
    parser.add_argument("--command", default=str(default), help="the installed console script (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=90.0, help="give up after this many seconds")
    args = parser.parse_args()

    started = time.monotonic()
    try:
        origin = installed_origin()
        check(Path(args.command).is_file(), f"no console script at {args.command}")
        with tempfile.TemporaryDirectory(prefix="vapi-mcp-smoke-") as tmp:

            async def run() -> list[str]:
                with anyio.fail_after(args.timeout):
                    return await smoke(args.command, Path(tmp))

            notes = anyio.run(run)
    except (SmokeFailure, TimeoutError) as exc:
        print(f"release smoke: FAIL: {exc or 'timed out'}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"release smoke: ok in {elapsed:.1f}s ({', '.join(notes)}; vapi_mcp from {origin.parent})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
