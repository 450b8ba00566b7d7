"""What every emulator route shares about Vapi's wire: its error body, Bearer auth, and untyped JSON.

The emulator reads what clients send as plain JSON (never through the client's models: it exists to check
them), so the helpers here narrow ``json.loads`` output to ``dict[str, Any]`` once, in one place.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, cast

from starlette.responses import JSONResponse

__all__ = ["INVALID_KEY", "as_object", "bearer", "host_literal", "same_secret", "vapi_error"]

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
