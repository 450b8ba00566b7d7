"""Legacy subscriptions hold no memory beyond live, bounded subscriptions (issue 8, defect 2)."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.helpers import create_call
from vapi_mcp.face import create_server
from vapi_mcp.face.notify import MAX_SUBSCRIPTIONS
from vapi_mcp.settings import Settings


@pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")
async def test_subscriptions_are_validated_capped_and_forgotten(settings: Settings) -> None:
    server = create_server(settings)
    notifier = server.state.notifier
    with anyio.fail_after(15):
        async with Client(server, mode="legacy") as client:  # type: ignore[arg-type]
            with pytest.raises(MCPError, match="too long"):
                await client.subscribe_resource("vapi://calls/" + "x" * 1_000_000)
            assert notifier.subscription_count == 0
            call_id = await create_call(client)
            uris = [f"vapi://calls/{call_id}/{view}" for view in ("events", "audio-summary", "transcript")]
            for uri in [*uris, "vapi://calls"]:
                await client.subscribe_resource(uri)
            await client.subscribe_resource("vapi://calls")  # the same one twice counts once
            assert notifier.subscription_count == 4
            await client.unsubscribe_resource(uris[0])
            assert notifier.subscription_count == 3 and uris[0] not in notifier._legacy_subs  # pyright: ignore[reportPrivateUsage]
        # The client left: everything it held is gone.
        assert notifier.subscription_count == 0 and not notifier._legacy_subs  # pyright: ignore[reportPrivateUsage]


@pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")
async def test_one_connection_cannot_hold_more_than_the_cap(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vapi_mcp.face.notify.MAX_SUBSCRIPTIONS", 3)
    with anyio.fail_after(15):
        async with Client(create_server(settings), mode="legacy") as client:  # type: ignore[arg-type]
            for call_id in ("a1", "a2", "a3"):
                await client.subscribe_resource(f"vapi://calls/{call_id}")
            with pytest.raises(MCPError, match="too many subscriptions"):
                await client.subscribe_resource("vapi://calls/a4")
            await client.subscribe_resource("vapi://calls/a3")  # renewing one it holds is fine
    assert MAX_SUBSCRIPTIONS == 1000
