"""Operator policy: what an agent may do, decided before anything reaches Vapi.

Pure functions over strings and JSON-like values, so they are trivially testable and reusable.

Destinations (a phone number or a SIP URI) are checked in two places: the ``transfer_call`` tool names one
(:func:`classify_destination`, :func:`check_transfer_allowed`), and a transient assistant, squad or overrides
object can hide any number of them (:func:`check_nested_destinations`, issue 8 defect 3). Both use the same
shape rules and the same allowlist matcher, so "any valid destination" means the same thing everywhere.

Allowlist entries (``VAPI_MCP_TRANSFER_ALLOWLIST``) match by parts, not as one string: a ``*`` is a
wildcard *within its part* (the digits of a number; a SIP URI's user, host, port or parameters) and never
crosses a delimiter, so ``sip:desk@*.example.com`` cannot match ``sip:desk@evil.com;x=.example.com``.
RFC 3261 §19.1.4 says the user part of a SIP URI is case-sensitive and the scheme, host and parameters are
not, and that is how they are compared (``sip:Agent@…`` does not pass an entry ``sip:agent@…``).
"""

from __future__ import annotations

from vapi_mcp.policy.allowlist import check_allowlist_entries, check_transfer_allowed
from vapi_mcp.policy.destinations import E164_PATTERN, SIP_URI_PATTERN, classify_destination
from vapi_mcp.policy.nested import FoundDestination, check_nested_destinations

__all__ = [
    "E164_PATTERN",
    "SIP_URI_PATTERN",
    "FoundDestination",
    "check_allowlist_entries",
    "check_nested_destinations",
    "check_transfer_allowed",
    "classify_destination",
]
