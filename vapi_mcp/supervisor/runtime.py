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
from vapi_mcp.supervisor.alerts.fleet import alert_defaults
from vapi_mcp.supervisor.core import CallSupervisor
from vapi_mcp.supervisor.observer import CallObserver
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
    async with client, anyio.create_task_group() as tasks:
        supervisor = CallSupervisor(settings, client, LocalStore(settings.data_dir), tasks, observer)
        try:
            await supervisor.recover()  # every call of the data dir is listed from here on
            yield supervisor
        finally:
            tasks.cancel_scope.cancel()
            supervisor.close()
