"""The SDK's SubscriptionBus over Redis pub/sub: a client on one replica hears of changes made on another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.subscriptions import PromptsListChanged, ResourcesListChanged, ResourceUpdated, ToolsListChanged
from mcp.types import ResourceUpdatedNotification

from tests.conftest import REDIS_URL, make_settings
from tests.helpers import create_call
from vapi_mcp.emulator import Emulator
from vapi_mcp.face import create_server
from vapi_mcp.face.shared_bus import SharedSubscriptionBus, decode_event, encode_event

EVENTS = [ResourceUpdated(uri="vapi://calls/a b/events"), ResourcesListChanged(), ToolsListChanged()]
EVENTS.append(PromptsListChanged())


@pytest.mark.parametrize("event", EVENTS)
def test_events_cross_the_channel_unchanged(event: Any) -> None:
    assert decode_event(encode_event(event).encode()) == event


def test_garbage_on_the_channel_is_ignored() -> None:
    assert decode_event(b"\xff\xfe") is None and decode_event(b"") is None


async def test_without_a_relay_the_bus_delivers_locally() -> None:
    bus = SharedSubscriptionBus()
    heard: list[Any] = []
    unsubscribe = bus.subscribe(heard.append)
    await bus.publish(ResourcesListChanged())
    unsubscribe()
    unsubscribe()
    await bus.publish(ResourcesListChanged())
    assert heard == [ResourcesListChanged()]


@pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")  # the legacy era on purpose
async def test_a_client_on_one_replica_hears_another(emulator: Emulator, tmp_path: Path, redis_prefix: str) -> None:
    def server(name: str) -> Any:
        settings = make_settings(
            emulator, tmp_path / name, redis_url=REDIS_URL, redis_prefix=redis_prefix, replica_id=name
        )
        return create_server(settings)

    legacy_heard: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            legacy_heard.append(str(message.params.uri))

    with anyio.fail_after(30):
        async with (
            Client(server("a")) as a,
            Client(server("b")) as b,
            Client(server("c"), mode="legacy", message_handler=on_message) as c,
        ):
            call_id = await create_call(a, listen=True)
            # Only the replica that listens (a) changes the recording: b and c hear of it through Redis alone.
            recording = f"vapi://calls/{call_id}/recording.wav"
            await c.subscribe_resource(recording)
            async with b.listen(resource_subscriptions=[recording]) as sub:
                events = aiter(sub)
                while getattr(await anext(events), "uri", None) != recording:
                    pass
            while recording not in legacy_heard:
                await anyio.sleep(0.05)
