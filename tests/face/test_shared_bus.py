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


async def test_one_flush_is_one_message_and_changes_seen_everywhere_stay_here(redis_prefix: str) -> None:
    """What one flush shares crosses Redis as one message; a change every replica sees itself never does."""
    import redis.asyncio

    from vapi_mcp.store.shared.channel import Channel
    from vapi_mcp.store.shared.link import RedisLink
    from vapi_mcp.supervisor.replicas import NotificationRelay

    links = [RedisLink(REDIS_URL, prefix=redis_prefix, replica=name) for name in ("a", "b")]
    channels = [Channel(link) for link in links]
    buses = [SharedSubscriptionBus(), SharedSubscriptionBus()]
    heard: list[list[Any]] = [[], []]
    for bus, channel, got in zip(buses, channels, heard, strict=True):
        bus.attach(NotificationRelay(channel))
        bus.subscribe(got.append)
    spy: Any = redis.asyncio.Redis.from_url(REDIS_URL).pubsub()  # pyright: ignore[reportUnknownMemberType]
    await spy.subscribe(channels[0].name("notify"))
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                for channel in channels:
                    tasks.start_soon(channel.run)
                    await channel.subscribed.wait()
                shared = [ResourceUpdated(uri=f"vapi://calls/c{i}/audio-summary") for i in range(3)]
                await buses[0].publish_many([ResourcesListChanged(), *shared])
                buses[0].deliver_here([ResourceUpdated(uri="vapi://calls/c0/events")])
                while len(heard[1]) < 4:
                    await anyio.sleep(0.02)
                await anyio.sleep(0.2)  # anything more would have arrived by now
                tasks.cancel_scope.cancel()
        messages: list[Any] = []
        with anyio.move_on_after(0.5):  # get_message answers None for the subscription's own confirmation too
            while True:
                message = await spy.get_message(ignore_subscribe_messages=True, timeout=0.1)
                if message is not None:
                    messages.append(message)
    finally:
        await spy.aclose()
        for link in links:
            await link.aclose()
    assert len(messages) == 1, "one message for the whole flush"
    assert heard[1] == [ResourcesListChanged(), *shared], "the other replica got all of it, in order"
    here = ResourceUpdated(uri="vapi://calls/c0/events")
    assert heard[0].count(here) == 1 and here not in heard[1], "a change seen everywhere is delivered here only"
    assert [e for e in heard[0] if e != here] == [ResourcesListChanged(), *shared], "and the flush came back here"
