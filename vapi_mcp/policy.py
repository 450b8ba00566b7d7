"""Operator policy: what an agent may do, decided before anything reaches Vapi.

Pure functions over strings, so they are trivially testable and reusable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vapi_mcp.errors import InvalidInput, TransferNotAllowed

__all__ = [
    "E164_PATTERN",
    "SIP_URI_PATTERN",
    "check_allowlist_entries",
    "check_transfer_allowed",
    "classify_destination",
]

# ITU-T E.164: a plus, a non-zero country digit, at most 15 digits in all.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
# sip:/sips: URI with an optional user part, a host and optional port/params; no spaces, no second '@'.
SIP_URI_PATTERN = r"^sips?:(?:[A-Za-z0-9._~!$&'()*+,;=%-]+@)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:;[A-Za-z0-9._=%-]+)*$"
_E164 = re.compile(E164_PATTERN)
_SIP = re.compile(SIP_URI_PATTERN)


def classify_destination(destination: str) -> str:
    """Return ``"number"`` or ``"sip"`` for a valid destination, else raise ``InvalidInput``."""
    if _E164.fullmatch(destination):
        return "number"
    if _SIP.fullmatch(destination):
        return "sip"
    raise InvalidInput(
        f"destination {destination[:80]!r} is neither an E.164 number (like +14155550123) "
        "nor a SIP URI (like sip:agent@pbx.example.com)"
    )


def _entry_regex(entry: str) -> re.Pattern[str]:
    # Only '*' is a wildcard; everything else matches literally (no fnmatch '?' or '[...]').
    parts = (re.escape(part) for part in entry.split("*"))
    return re.compile(".*".join(parts), re.IGNORECASE if entry.lower().startswith("sip") else 0)


def check_allowlist_entries(entries: Iterable[str]) -> None:
    for entry in entries:
        if not (entry.startswith("+") or entry.lower().startswith(("sip:", "sips:")) or entry == "*"):
            raise InvalidInput(
                f"VAPI_MCP_TRANSFER_ALLOWLIST entry {entry!r} must be an E.164 number or a sip: URI "
                "(with optional * wildcards)"
            )


def check_transfer_allowed(destination: str, allowlist: tuple[str, ...]) -> None:
    """Raise ``TransferNotAllowed`` unless the destination matches an allowlist entry.

    An empty allowlist allows any valid destination (the documented default).
    """
    if not allowlist:
        return
    if any(_entry_regex(entry).fullmatch(destination) for entry in allowlist):
        return
    raise TransferNotAllowed(destination, allowlist)
