"""What the lifespan builds and every handler reaches: the running supervisor (or none yet)."""

from __future__ import annotations

from dataclasses import dataclass

from vapi_mcp.face.notify import Notifier
from vapi_mcp.settings import Settings
from vapi_mcp.supervisor import CallSupervisor

__all__ = ["AppState"]


@dataclass
class AppState:
    settings: Settings
    notifier: Notifier
    supervisor: CallSupervisor | None = None

    def require(self) -> CallSupervisor:
        if self.supervisor is None:
            raise RuntimeError("the server is not running (lifespan not entered)")
        return self.supervisor
