"""One real server and emulator for a fuzz test, driven synchronously so that hypothesis can call it.

Hypothesis runs examples synchronously; the server lives on an event loop in a blocking portal's thread and
every example is one ``portal.call``. The server, the emulator and the calls created for the test are shared
by all the examples of one test function: many examples per server keeps the fuzzing fast.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import jsonschema
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import event, reject
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, Tool

from tests.conftest import API_KEY, make_settings
from tests.fuzz.leaks import Leaks
from tests.fuzz.strategies import ALLOWLIST, passes_allowlist
from tests.helpers import CUSTOMER, call_ok, text_of, wait_status
from vapi_mcp.emulator import Emulator, EmulatorOptions, running_emulator
from vapi_mcp.face import create_server

__all__ = ["HTTP_TOKEN", "SERVER_THREAD_USES_RANDOM", "Live", "live_server"]

HTTP_TOKEN = "fuzz-http-token-0123456789abcdef0123456789"
# The server's thread draws from the global `random` (poll jitter, retry backoff) while hypothesis draws an
# example on the test's thread, and hypothesis takes the change of state for a strategy that uses `random`.
SERVER_THREAD_USES_RANDOM = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)
_T = TypeVar("_T")
CALL_TIMEOUT_S = 20.0  # one tool call, whatever it is asked (wait_for_event is capped well below)

_DESTINATION_KEYS = {"number", "forwardingphonenumber", "sipuri", "destination", "fallbackdestination"}
_OWN_ENDS = {"customer", "customers", "phonenumber", "phonenumberid"}  # the call's own ends, not transfers


def _norm(key: object) -> str:
    return str(key).replace("_", "").replace("-", "").lower()


def _destinations_in(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a destination position of what the emulator received, with its path."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            name, where = _norm(key), f"{path}.{key}"
            if name in _OWN_ENDS and not path:
                continue
            if isinstance(item, str) and name in _DESTINATION_KEYS:
                yield where, item
            elif isinstance(item, str) and name == "twiml" and "<dial" in item.lower():
                yield where, item
            elif name == "destinations" and isinstance(item, list):
                yield from ((f"{where}[]", s) for s in item if isinstance(s, str))
            yield from _destinations_in(item, where)
    elif isinstance(value, list):
        for item in value:
            yield from _destinations_in(item, f"{path}[]")


def _sent(outcome: _T | None) -> _T:
    """``None`` is a request the SDK client could not encode (a lone surrogate in a key or a URI): it never
    reaches a server, over any transport, so hypothesis drops the example."""
    if outcome is None:
        reject()
    return outcome


@dataclass
class Live:
    portal: BlockingPortal
    client: Client
    emulator: Emulator
    data_dir: Path
    tools: dict[str, Tool]
    calls: list[str]
    leaks: Leaks = field(default_factory=Leaks)
    outcomes: Counter[str] = field(default_factory=Counter[str])

    def call(self, tool: str, args: dict[str, Any]) -> CallToolResult | MCPError:
        async def run() -> CallToolResult | MCPError | None:
            with anyio.fail_after(CALL_TIMEOUT_S):
                try:
                    return await self.client.call_tool(tool, args)
                except MCPError as exc:
                    return exc
                except UnicodeEncodeError:
                    return None

        return _sent(self.portal.call(run))

    def read(self, uri: str) -> object:
        """Read a resource: its contents (text, or the blob's size), or the refusal's message if it is a clear
        one (a crash is INTERNAL_ERROR with only the URI: the test fails)."""

        async def run() -> object:
            with anyio.fail_after(CALL_TIMEOUT_S):
                try:
                    return await self.read_on_loop(uri)
                except UnicodeEncodeError:
                    return None

        return _sent(self.portal.call(run))

    async def read_on_loop(self, uri: str) -> object:
        try:
            read = await self.client.read_resource(uri)
        except MCPError as exc:
            assert exc.code != INTERNAL_ERROR, f"reading {uri!r:.100} crashed: {exc.message}"
            assert exc.message.strip() and "Traceback" not in exc.message, f"reading {uri!r:.100}: {exc!r}"
            return exc.message
        return [getattr(c, "text", None) or len(getattr(c, "blob", "")) for c in read.contents]

    def check(self, tool: str, args: dict[str, Any]) -> CallToolResult | MCPError:
        """Call ``tool``: a clear error or a result valid against its output schema, and nothing leaked."""
        outcome = self.call(tool, args)
        self.portal.call(self._learn_tokens)
        if isinstance(outcome, MCPError):
            # The SDK may refuse arguments at the protocol level: only as invalid params, with a message.
            assert outcome.code == INVALID_PARAMS and outcome.message.strip(), f"{tool}: {outcome!r}"
            event("protocol error")
            self.outcomes["protocol error"] += 1
            self.leaks.check(outcome.message, f"{tool} protocol error")
            return outcome
        text = text_of(outcome)
        kind = "tool error" if outcome.is_error else "valid result"
        event(kind)
        self.outcomes[kind] += 1
        if outcome.is_error:
            assert text.strip(), f"{tool}: an error without a message"
            assert "Traceback" not in text, f"{tool}: a traceback reached the agent: {text[:500]}"
            assert text.strip() != f"Error executing tool {tool}", f"{tool} crashed on {args!r:.300}"
            assert "Internal error" not in text or len(text) > 40, f"{tool}: an unexplained internal error"
        else:
            assert outcome.structured_content is not None, f"{tool}: a result without structured content"
            schema = self.tools[tool].output_schema
            if schema is not None:
                jsonschema.validate(outcome.structured_content, schema)
        self.leaks.check([text, outcome.structured_content], f"{tool} result")
        self.portal.call(self.check_allowlist, tool)
        return outcome

    def _learn_tokens(self) -> None:
        """The capability token of every call the emulator made, the fuzzed ones included (on the loop)."""
        self.leaks.add(*(state.token for state in self.emulator.calls.values()))

    def check_allowlist(self, tool: str) -> None:
        """Nothing outside ALLOWLIST ever reached the emulator, in a call request or a control message."""
        for call_id, state in self.emulator.calls.items():  # on the loop: the emulator is not changing
            bodies: list[tuple[str, object]] = [("POST /call", state.body)]
            bodies += [("control", record.body) for record in state.control_log]
            for what, body in bodies:
                for where, value in _destinations_in(body):
                    assert passes_allowlist(value), (
                        f"after {tool}: {what} of call {call_id} sent {value!r:.80} at {where} past {ALLOWLIST}"
                    )

    def still_serving(self) -> None:
        """After the examples: the basic tools and listings still answer, and nothing stored or readable leaks."""

        async def sweep() -> list[tuple[str, object]]:
            with anyio.fail_after(120 + 2 * len(self.emulator.calls)):  # calls listening in real time, a loaded machine
                seen: list[tuple[str, object]] = []
                listed = await call_ok(self.client, "list_calls", {"limit": 100})
                seen.append(("list_calls", listed))
                tools = await self.client.list_tools()
                assert {t.name for t in tools.tools} == set(self.tools)
                resources = await self.client.list_resources()
                uris = {str(r.uri) for r in resources.resources} | {"vapi://calls"}
                for call_id in self.emulator.calls:
                    for tail in ("", "/events", "/audio-summary", "/transcript"):
                        uris.add(f"vapi://calls/{call_id}{tail}")
                for uri in sorted(uris):  # a call not supervised, or never listened to: a clear refusal
                    seen.append((uri, await self.read_on_loop(uri)))
                for call_id in self.emulator.calls:
                    page = await self.client.call_tool("get_call_events", {"call_id": call_id, "limit": 500})
                    seen.append((f"events of {call_id}", [text_of(page), page.structured_content]))
                return seen

        for where, value in self.portal.call(sweep):
            self.leaks.check(value, where)
        self.leaks.check_files(self.data_dir)


@asynccontextmanager
async def _serving(data_dir: Path, *, live_calls: int) -> AsyncIterator[tuple[Client, Emulator, list[str]]]:
    options = EmulatorOptions(api_key=API_KEY, scenario="open-ended", time_scale=1.0, ring_s=0.05, answer_s=0.05)
    async with running_emulator(options) as emulator:
        settings = make_settings(emulator, data_dir, transfer_allowlist=ALLOWLIST, http_token=HTTP_TOKEN)
        async with Client(create_server(settings)) as client:
            with anyio.fail_after(20):
                calls: list[str] = []
                for index in range(live_calls):  # the first one listens: listen-state paths get fuzzed too
                    args = {"customer_number": CUSTOMER, "assistant_id": "asst-support", "listen": index == 0}
                    calls.append(str((await call_ok(client, "create_call", args))["call_id"]))
                for call_id in calls:
                    await wait_status(client, call_id, "in-progress")
            yield client, emulator, calls


@contextmanager
def live_server(tmp_path: Path, *, live_calls: int = 2) -> Iterator[Live]:
    data_dir = tmp_path / "data"
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(_serving(data_dir, live_calls=live_calls)) as (client, emulator, calls),
    ):
        tools = {tool.name: tool for tool in portal.call(client.list_tools).tools}
        live = Live(portal, client, emulator, data_dir, tools, calls, Leaks([API_KEY, HTTP_TOKEN]))
        yield live
        portal.call(live._learn_tokens)
        live.still_serving()
