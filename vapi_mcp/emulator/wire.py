"""What every emulator route shares about Vapi's wire: its error body, Bearer auth, and untyped JSON.

The emulator reads what clients send as plain JSON (never through the client's models: it exists to check
them), so the helpers here narrow ``json.loads`` output to ``dict[str, Any]`` once, in one place.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, cast

from starlette.responses import JSONResponse

__all__ = ["INVALID_KEY", "as_object", "bearer", "host_literal", "same_secret", "vapi_error", "whole_number"]

INVALID_KEY = "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa."


def vapi_error(status: int, message: str | list[str], headers: dict[str, str] | None = None) -> JSONResponse:
    """Vapi's (NestJS) error body: ``{"message": str | [str], "error": <reason phrase>, "statusCode": n}``."""
    body = {"message": message, "error": HTTPStatus(status).phrase, "statusCode": status}
    return JSONResponse(body, status_code=status, headers=headers)


def as_object(value: object) -> dict[str, Any] | None:
    """``value`` as a JSON object, or None when it is anything else (JSON object keys are always strings)."""
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; a missing side never matches."""
    return given is not None and expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def host_literal(host: str) -> str:
    """An IPv6 address in brackets, so that it can take a ``:port``."""
    return f"[{host}]" if ":" in host else host


def whole_number(value: object) -> int | None:
    """``value`` as an integer if it is a whole number, else None.

    Vapi runs on JavaScript numbers, where ``10.0`` *is* ``10``: wherever it takes an integer, a whole-number
    float (``10.0`` from Vapi's own Python SDK, which types such fields as float) or a query string such as
    ``"2.0"`` is that integer. ``10.5``, ``NaN``, infinities, booleans and non-numeric strings are not.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None
