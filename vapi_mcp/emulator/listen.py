"""The listen WebSocket, ``/{token}/{callId}/listen`` (reference/vapi-api.md §2, §7.8).

Where Vapi's behaviour is unknown the emulator picks a documented default:

* a connection for an unknown/ended call is refused *before* the WebSocket handshake with HTTP 404 (HTTP 401
  when ``listenAuthenticationEnabled`` and the bearer is not the public key), or with close code 1008 where the
  server cannot send an HTTP denial;
* a connection opened before the call is ``in-progress`` is accepted and stays silent until it is, then hears the
  call from its first frame (real Vapi is reported unreliable there; our server opens early and, refused or
  closed before audio, opens again once the call is in progress);
* the socket closes with 1000 when the call ends, 1001 when the emulator shuts down, and with no close frame at
  all (a dropped TCP connection) when the scenario scripts a drop.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from vapi_mcp.emulator.hub import Hub
from vapi_mcp.emulator.listener import ABORT, Close, Listener
from vapi_mcp.emulator.wire import INVALID_KEY, bearer, same_secret, vapi_error

__all__ = ["ABORT_EXTENSION", "listen"]

# ASGI extension the emulator's runner adds to WebSocket scopes: {"abort": transport.abort}.
ABORT_EXTENSION = "vapi_mcp.emulator.abort"
TEMPLATE = "/{token}/{id}/listen"


def _extensions(websocket: WebSocket) -> dict[str, Any]:
    extensions: dict[str, Any] | None = websocket.scope.get("extensions")
    return extensions or {}


async def _deny(hub: Hub, websocket: WebSocket, status: int, message: str) -> None:
    hub.log("GET", TEMPLATE, status)
    if "websocket.http.response" in _extensions(websocket):
        await websocket.send_denial_response(vapi_error(status, message))
    else:
        await websocket.close(1008, message)


async def listen(hub: Hub, websocket: WebSocket) -> None:
    call = hub.lookup(websocket.path_params["token"], websocket.path_params["call_id"])
    if call is None or call.ended or not call.listen_enabled or hub.closed:
        await _deny(hub, websocket, 404, "Call not found or already ended")
        return
    if call.listen_auth and not same_secret(bearer(websocket.headers), hub.options.public_key):
        await _deny(hub, websocket, 401, INVALID_KEY)
        return
    if call.dropped and call.scenario.stay_down:  # a scripted fault: the listen socket stays down
        await _deny(hub, websocket, 503, "Service Unavailable")
        return
    finished = hub.socket_opened()
    try:
        await websocket.accept()
        hub.log("GET", TEMPLATE, 101)
        listener = Listener(call.audio.chunk_sizes() if call.scenario.odd_sizes else None)
        if call.scenario.format_frame:
            listener.push_text(call.audio.format_frame())
        if call.ended:
            listener.close(1000, "call ended")
        else:
            call.listeners.add(listener)
            call.wake.set()  # the producer renders from *now* for this listener
        try:
            await _pump(websocket, listener)
        finally:
            call.listeners.discard(listener)
    finally:
        hub.socket_closed(finished)


async def _pump(websocket: WebSocket, listener: Listener) -> None:
    async with anyio.create_task_group() as group:

        async def watch_disconnect() -> None:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
            group.cancel_scope.cancel()

        group.start_soon(watch_disconnect)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await _send_all(websocket, listener)
        group.cancel_scope.cancel()


async def _send_all(websocket: WebSocket, listener: Listener) -> None:
    while True:
        item = await listener.get()
        if item is ABORT:
            abort = _extensions(websocket).get(ABORT_EXTENSION)
            if abort is not None:
                abort["abort"]()  # no close frame: the client sees an abnormal closure (1006)
            else:
                await websocket.close(1011, "connection dropped")
            return
        if isinstance(item, Close):
            await websocket.close(item.code, item.reason)
            return
        if isinstance(item, bytes):
            await websocket.send_bytes(item)
        else:
            await websocket.send_text(json.dumps(item))
