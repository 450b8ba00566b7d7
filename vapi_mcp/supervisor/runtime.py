"""The supervisor's life: built, run in its own task group, and shut down cleanly.

``running_supervisor`` is what the MCP lifespan (and any other host: a script, a test) enters.
Leaving it cancels the task group, which closes every listen socket and poller; each pipeline
flushes its recording in its session's ``finally``, and then every event log is closed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio

from vapi_mcp.settings import ConfigError, Settings
from vapi_mcp.store.local import LocalStore
from vapi_mcp.store.shared.link import RedisLink
from vapi_mcp.supervisor.alerts.fleet import alert_defaults
from vapi_mcp.supervisor.core import CallSupervisor
from vapi_mcp.supervisor.observer import CallObserver
from vapi_mcp.supervisor.replicas import Replicas
from vapi_mcp.vapi import VapiClient

__all__ = ["running_supervisor"]


@asynccontextmanager
async def running_supervisor(
    settings: Settings, observer: CallObserver | None = None
) -> AsyncGenerator[CallSupervisor]:
    """A :class:`CallSupervisor` with its Vapi client, its store and its background task group."""
    if settings.api_key is None:
        raise ConfigError("VAPI_API_KEY is not set")
    alert_defaults(settings)  # a bad VAPI_MCP_ALERT_RULES stops here, before any task starts
    client = VapiClient(
        settings.api_key.get_secret_value(),
        settings.base_url,
        public_key=settings.public_key.get_secret_value() if settings.public_key else None,
        timeout=settings.request_timeout_s,
        control_timeout=settings.control_timeout_s,
        max_retries=settings.max_retries,
    )
    async with client, sharing(settings) as replicas, anyio.create_task_group() as tasks:
        supervisor = CallSupervisor(settings, client, LocalStore(settings.data_dir), tasks, observer, replicas)
        if replicas is not None:
            tasks.start_soon(replicas.run)
            with anyio.move_on_after(3):  # Redis down at start: serve locally, the channel keeps retrying
                await replicas.channel.subscribed.wait()
        try:
            if replicas is None:  # with replicas the fleet is in Redis, and each replica adopts it at its rounds
                await supervisor.recover()  # every call of the data dir is listed from here on
            yield supervisor
        finally:
            tasks.cancel_scope.cancel()
            supervisor.close()
            if replicas is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await replicas.release_all()


@asynccontextmanager
async def sharing(settings: Settings) -> AsyncGenerator[Replicas | None]:
    """This replica's link to the fleet in Redis, or None without ``VAPI_MCP_REDIS_URL`` (the embedded default)."""
    if settings.redis_url is None:
        yield None
        return
    link = RedisLink(settings.redis_url.get_secret_value(), prefix=settings.redis_prefix, replica=settings.replica_id)
    try:
        yield Replicas(link, ttl_ms=int(settings.lease_ttl_s * 1000))
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await link.aclose()
