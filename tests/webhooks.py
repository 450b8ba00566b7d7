"""Shared by the webhook tests: the server with its webhook route on loopback, driven by the SDK's Client."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from mcp import Client

from tests.conftest import API_KEY, make_settings
from vapi_mcp.emulator import Emulator, EmulatorOptions
from vapi_mcp.face import create_server
from vapi_mcp.face.app import VapiMCPServer
from vapi_mcp.face.webhook import WEBHOOK_PATH, webhook_server
from vapi_mcp.settings import Settings

SECRET = "webhook-secret-0123456789abcdef"
EVERY_MESSAGE = (
    "status-update",
    "transcript",
    "speech-update",
    "end-of-call-report",
    "conversation-update",
    "hang",
    "user-interrupted",
    "transfer-update",
    "language-change-detected",
    "tool-calls",
    "assistant-request",
)


def webhook_options(**extra: Any) -> EmulatorOptions:
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "scenario": "quick",
        "time_scale": 10.0,
        "server_secret": SECRET,
        "server_messages": EVERY_MESSAGE,
    }
    values.update(extra)
    return EmulatorOptions(**values)


@dataclass
class Supervised:
    client: Client
    server: VapiMCPServer
    settings: Settings
    url: str  # the webhook route's URL

    @property
    def supervisor(self) -> Any:
        return self.server.state.require()


@asynccontextmanager
async def supervised(
    emulator: Emulator, tmp_path: Path, *, message_handler: Callable[..., Any] | None = None, **overrides: Any
) -> AsyncGenerator[Supervised]:
    """The server (SDK client in memory) with ``POST /vapi/webhook`` on a loopback port the emulator posts to."""
    values: dict[str, Any] = {"webhook_secret": SECRET, **overrides}
    settings = make_settings(emulator, tmp_path / "data", **values)
    server = create_server(settings)
    # Notifications reach a message handler in the handshake era (the modern one listens by subscription).
    kwargs: dict[str, Any] = {"message_handler": message_handler, "mode": "legacy"} if message_handler else {}
    async with Client(server, **kwargs) as client, anyio.create_task_group() as tg:
        web = webhook_server(server.state, settings)
        tg.start_soon(web.serve)
        while not web.started:
            await anyio.sleep(0.01)
        port = web.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        emulator.server_url = url
        try:
            yield Supervised(client, server, settings, url)
        finally:
            web.should_exit = True


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.02)


@dataclass
class Post:
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A user's Server URL on loopback: records every POST, answers ``status``/``answer`` after ``delay_s``."""

    url: str = ""
    status: int = 200
    answer: bytes = b"{}"
    delay_s: float = 0.0
    posts: list[Post] = field(default_factory=list[Post])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.posts.append(Post(headers, body))
        await anyio.sleep(self.delay_s)
        await send(
            {"type": "http.response.start", "status": self.status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": self.answer})

    def messages(self) -> list[dict[str, Any]]:
        return [post.json()["message"] for post in self.posts]


@asynccontextmanager
async def receiving(receiver: Receiver | None = None) -> AsyncGenerator[Receiver]:
    """Serve a :class:`Receiver` on a free loopback port for the block."""
    receiver = receiver or Receiver()
    config = uvicorn.Config(receiver, host="127.0.0.1", port=0, log_config=None, lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        while not server.started:
            await anyio.sleep(0.01)
        receiver.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/hook"
        try:
            yield receiver
        finally:
            server.should_exit = True
