"""Resources: listing, templates, completion, the transcript, unknown calls, and list_changed in both eras."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceListChangedNotification, ResourceTemplateReference

from tests.helpers import call_ok, create_call, read_json, wait_status
from vapi_mcp.face import create_server
from vapi_mcp.settings import Settings

TEMPLATES = {
    "vapi://calls/{call_id}",
    "vapi://calls/{call_id}/events",
    "vapi://calls/{call_id}/audio-summary",
    "vapi://calls/{call_id}/transcript",
    "vapi://calls/{call_id}/recording.wav",
    "vapi://calls/{call_id}/report",
}


async def test_templates_and_completion(client: Client) -> None:
    with anyio.fail_after(15):
        templates = {t.uri_template: t for t in (await client.list_resource_templates()).resource_templates}
        assert set(templates) == TEMPLATES
        assert templates["vapi://calls/{call_id}/transcript"].mime_type == "text/plain"
        assert templates["vapi://calls/{call_id}/recording.wav"].mime_type == "audio/wav"
        first = await create_call(client)
        second = await create_call(client)
        ref = ResourceTemplateReference(type="ref/resource", uri="vapi://calls/{call_id}/events")
        everything = await client.complete(ref, {"name": "call_id", "value": ""})
        assert {first, second} <= set(everything.completion.values)
        narrowed = await client.complete(ref, {"name": "call_id", "value": first[:8]})
        assert narrowed.completion.values == [first]


async def test_call_resources_read(client: Client) -> None:
    with anyio.fail_after(30):
        call_id = await create_call(client, listen=True)
        cursor = 0
        while True:  # until a final transcript line has arrived
            got = await call_ok(
                client, "wait_for_event", {"call_id": call_id, "types": ["transcript"], "after_seq": cursor}
            )
            cursor = got["next_seq"]
            if any(event["data"]["final"] for event in got["events"]):
                break
        state = await read_json(client, f"vapi://calls/{call_id}")
        assert state["call_id"] == call_id and state["supervised"] is True
        events = await read_json(client, f"vapi://calls/{call_id}/events")
        assert events["call_id"] == call_id and events["events"][0]["type"] == "call.status"
        assert events["next_seq"] == events["events"][-1]["seq"]
        await call_ok(client, "end_call", {"call_id": call_id})
        await wait_status(client, call_id, "ended")
        transcript = await client.read_resource(f"vapi://calls/{call_id}/transcript")
        text = transcript.contents[0].text  # type: ignore[union-attr]
        assert transcript.contents[0].mime_type == "text/plain"
        assert text.startswith(("assistant: ", "customer: "))


async def test_unknown_call_resource_is_not_found(client: Client) -> None:
    with anyio.fail_after(10):
        for leaf in ("", "/events", "/audio-summary", "/transcript", "/recording.wav"):
            with pytest.raises(MCPError) as info:
                await client.read_resource(f"vapi://calls/nope{leaf}")
            assert info.value.error.code == -32602
            assert "attach_call" in info.value.error.message


async def test_list_changed_when_a_call_is_added_or_ends(settings: Settings) -> None:
    from mcp.client.subscriptions import ResourcesListChanged

    server = create_server(settings)
    with anyio.fail_after(30):
        async with Client(server) as modern:
            call_id = await create_call(modern, listen=False)
            await wait_status(modern, call_id, "in-progress")
            async with modern.listen(resources_list_changed=True) as sub:
                events = aiter(sub)
                another = await create_call(modern)  # a call is added…
                while not isinstance(await anext(events), ResourcesListChanged):
                    pass
                await call_ok(modern, "end_call", {"call_id": call_id})  # …and one ends
                while not isinstance(await anext(events), ResourcesListChanged):
                    pass
            listed = [str(r.uri) for r in (await modern.list_resources()).resources]
            assert {f"vapi://calls/{call_id}", f"vapi://calls/{another}"} <= set(listed)

        messages: list[Any] = []

        async def on_message(message: Any) -> None:
            messages.append(message)

        async with Client(server, mode="legacy", message_handler=on_message) as legacy:
            call_id = await create_call(legacy)
            await wait_status(legacy, call_id, "in-progress")
            # Coalesced: within one window (the restarted lifespan's recovery may have opened one just before).
            while not (added := sum(isinstance(m, ResourceListChangedNotification) for m in messages)):
                await anyio.sleep(0.05)
            await call_ok(legacy, "end_call", {"call_id": call_id})
            await wait_status(legacy, call_id, "ended")
            await anyio.sleep(0.5)  # one coalescing window
            assert sum(isinstance(m, ResourceListChangedNotification) for m in messages) > added


async def test_ended_calls_beyond_the_cap_leave_memory_but_stay_listed_and_readable(
    emulator: Any, tmp_path: Any
) -> None:
    from tests.conftest import make_settings

    settings = make_settings(emulator, tmp_path, max_ended_calls=1)
    server = create_server(settings)
    async with Client(server) as client:
        with anyio.fail_after(30):
            first = await create_call(client)
            await wait_status(client, first, "in-progress")
            await call_ok(client, "say", {"call_id": first, "content": "remember me"})
            history = await call_ok(client, "get_call_events", {"call_id": first})
            for call_id in (first, await create_call(client), await create_call(client)):
                await wait_status(client, call_id, "in-progress")
                await call_ok(client, "end_call", {"call_id": call_id})
                await wait_status(client, call_id, "ended")
            supervisor = server.state.require()
            while first in supervisor.calls:  # forgotten once its listening is over too, which may come last
                await anyio.sleep(0.02)
            assert len(supervisor.calls) <= 2, "memory keeps the cap"
            supervised = {c["call_id"]: c for c in (await read_json(client, "vapi://calls"))["calls"]}
            assert supervised[first]["status"] == "ended" and supervised[first]["supervised"], "listed from disk"
            # Readable without attach_call: the journal kept everything.
            events = await read_json(client, f"vapi://calls/{first}/events")
            assert events["events"][: len(history["events"])] == history["events"]
            await call_ok(client, "attach_call", {"call_id": first, "listen": False})
            again = await call_ok(client, "get_call_events", {"call_id": first, "limit": 500})
            assert again["events"][: len(history["events"])] == history["events"]
            assert again["latest_seq"] > history["latest_seq"]


async def test_the_supervision_prompt_and_unknown_prompts(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with anyio.fail_after(10):
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(prompts) == {"supervise_call", "supervise_fleet"}
        got = await client.get_prompt("supervise_call", {"call_id": "abc123"})
        text = got.messages[0].content.text  # type: ignore[union-attr]
        assert "abc123" in text and "wait_for_event" in text and "ask the operator" in text
        fleet = await client.get_prompt("supervise_fleet", {"phrases": "refund, lawyer"})
        text = fleet.messages[0].content.text  # type: ignore[union-attr]
        assert "no call_id" in text and "keywords" in text and "listen_lost" in text and "confirm" in text
        assert '{"keywords": {"phrases": ["refund", "lawyer"]}}' in text
        for name, args in (("nope", {}), ("supervise_call", {})):
            with pytest.raises(MCPError) as info:
                await client.get_prompt(name, args)
            assert info.value.error.code == -32602
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "a bad prompt request is not a server error"


async def test_every_resource_is_read_on_the_event_loop(settings: Settings) -> None:
    """Issue 8, defect 1: the SDK runs a synchronous resource function in a worker thread, where it raced the
    loop appending events (islice over a sliding window) and flushing the recording. Every handler is async."""
    import inspect

    server = create_server(settings)
    manager = server._resource_manager  # pyright: ignore[reportPrivateUsage]  # no public list of handlers
    static = [r for r in manager._resources.values() if hasattr(r, "fn")]  # pyright: ignore[reportPrivateUsage]  # not the panel's ui:// text
    handlers = [t.fn for t in manager.list_templates()] + [r.fn for r in static]  # pyright: ignore[reportAttributeAccessIssue]
    assert len(handlers) == 8
    assert all(inspect.iscoroutinefunction(fn) for fn in handlers), [
        fn for fn in handlers if not inspect.iscoroutinefunction(fn)
    ]
