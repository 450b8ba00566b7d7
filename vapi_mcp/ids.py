"""The one rule for Vapi ids: what a call, assistant, squad or phone-number id may look like here.

Why one rule: an id travels from an agent's tool argument (the MCP schema), through the REST client (a URL
path segment), to the data dir (a folder name). When those layers disagreed, a call Vapi had really placed
could be refused by the last layer after the fact, and an agent told to "correct the argument" placed a
second real call. Every layer imports its check from here, so an id accepted once is accepted everywhere.

What real ids look like: Vapi issues lowercase UUIDs (``7420f27a-30fd-4f49-a995-5549ae7cc00d``) for calls,
assistants, squads, phone numbers and tools; the bundled emulator does too. The rule is a superset of
that shape, wide enough for the short test ids of the emulator (``asst-1``) and narrow enough to be safe as
one path component on every filesystem: ASCII letters, digits, ``-`` and ``_`` only (so no ``.``/``..``,
no separator, no NUL, no space, nothing a shell or a URL would reinterpret), starting with a letter or a
digit (never ``-x``, which tools would take for an option), at most 64 characters (a UUID is 36).

Not here on purpose: ids are compared as given. Vapi's UUIDs are lowercase, so the case-insensitive
filesystems (macOS, Windows) cannot see two real ids collide.
"""

from __future__ import annotations

import re
from typing import Final, TypeGuard

from vapi_mcp.errors import InvalidInput

__all__ = [
    "ID_MAX_LENGTH",
    "ID_PATTERN",
    "VAPI_UUID_PATTERN",
    "describe_id_rule",
    "is_valid_id",
    "is_vapi_uuid",
    "validate_id",
]

ID_MAX_LENGTH: Final = 64
# Anchored for JSON Schema (``pattern`` is a search there); Python code uses the compiled fullmatch below.
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
VAPI_UUID_PATTERN: Final = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# fullmatch, never match-with-$: '$' also matches before a trailing newline.
_ID = re.compile(ID_PATTERN[1:-1])
_UUID = re.compile(VAPI_UUID_PATTERN[1:-1])
_RULE = f"1-{ID_MAX_LENGTH} characters among A-Z a-z 0-9 _ -, starting with a letter or a digit"


def describe_id_rule() -> str:
    """The rule in words, for error messages and tool descriptions."""
    return _RULE


def is_valid_id(value: object) -> TypeGuard[str]:
    """True if ``value`` is a string that passes the one id rule (safe as a URL segment and a folder name)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def is_vapi_uuid(value: object) -> TypeGuard[str]:
    """True if ``value`` has the shape of the ids Vapi itself issues (a UUID). Informative, never required."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def validate_id(value: object, *, what: str = "call id") -> str:
    """Return ``value`` if it passes the id rule, else raise :class:`InvalidInput` naming ``what``.

    The message shows at most 80 characters of the refused value, with control characters escaped by
    ``repr``, so an id crafted to forge log lines or flood an error stays harmless.
    """
    if is_valid_id(value):
        return value
    shown = repr(value[:80]) if isinstance(value, str) else f"a {type(value).__name__}"
    raise InvalidInput(f"invalid {what} {shown}: expected {_RULE}")
