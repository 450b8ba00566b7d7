"""Scripted faults for the REST and control surfaces: 429 with ``Retry-After``, 5xx, slow answers.

Rules are consumed in the order they were added, ``times`` matching requests each, so a test can script
"two 429s, then a 503, then a slow success" and know exactly which request meets which fault.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus

from starlette.responses import JSONResponse

from vapi_mcp.emulator.options import FaultRoute, FaultRule
from vapi_mcp.emulator.wire import vapi_error

__all__ = ["FAULT_MESSAGES", "FaultQueue"]

FAULT_MESSAGES = {429: "ThrottlerException: Too Many Requests", 500: "Internal server error"}


@dataclass(slots=True)
class _Pending:
    rule: FaultRule
    remaining: int


class FaultQueue:
    """The faults still to be served, first added first matched."""

    def __init__(self) -> None:
        self._pending: list[_Pending] = []

    def add(self, rule: FaultRule) -> None:
        self._pending.append(_Pending(rule, rule.times))

    def _take(self, route: FaultRoute, call_id: str | None) -> FaultRule | None:
        for entry in self._pending:
            rule = entry.rule
            if rule.route == route and (rule.call_id is None or rule.call_id == call_id):
                entry.remaining -= 1
                if entry.remaining <= 0:
                    self._pending.remove(entry)
                return rule
        return None

    async def serve(self, route: FaultRoute, call_id: str | None) -> JSONResponse | None:
        """Consume the first matching fault: sleep its delay, then return its error (None: carry on normally)."""
        rule = self._take(route, call_id)
        if rule is None:
            return None
        if rule.delay_s:
            await asyncio.sleep(rule.delay_s)
        if rule.status is None:
            return None
        headers: dict[str, str] = {}
        retry_after = rule.retry_after if rule.retry_after is not None else (1.0 if rule.status == 429 else None)
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        message = FAULT_MESSAGES.get(rule.status, HTTPStatus(rule.status).phrase)
        return vapi_error(rule.status, message, headers)
