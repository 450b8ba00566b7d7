"""The transfer allowlist: entries compiled once, matched part by part (a ``*`` never crosses a delimiter)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from vapi_mcp.errors import InvalidInput, TransferNotAllowed
from vapi_mcp.policy.destinations import E164, SipParts, sip_parts

__all__ = ["allowed", "check_allowlist_entries", "check_transfer_allowed"]


def _glob(pattern: str, text: str) -> bool:
    """``*`` matches any run of characters, everything else itself. Greedy with one backtrack point, so at
    worst len(pattern) x len(text) steps whatever the number of ``*`` (a regex of several ``.*`` can take
    len(text) to the power of their number on a crafted destination)."""
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] != "*" and pattern[p] == text[t]:
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark, p = p, t, p + 1
        elif star >= 0:
            p, mark = star + 1, mark + 1
            t = mark
        else:
            return False
    return all(ch == "*" for ch in pattern[p:])


def _sip_entry(body: str, scheme: str) -> SipParts:
    """An entry's parts, ``*`` kept; the same cuts as :func:`sip_parts`, done by hand since ``*`` is not
    a URI character everywhere."""
    user, at, rest = body.rpartition("@")
    if "@" in user:
        raise ValueError("has more than one '@'")
    host_port, semi, params = rest.partition(";")
    if host_port.startswith("["):
        host, bracket, after = host_port.partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError("has a malformed IPv6 host")
        host, port = host + bracket, after[1:] if after else None
    else:
        host, colon, port_text = host_port.partition(":")
        port = port_text if colon else None
    if not host or port == "" or (semi and not params):
        raise ValueError("has an empty host, port or parameter list")
    return SipParts(scheme, user if at else None, host.lower(), port, params.lower() if semi else None)


def _sip_match(entry: SipParts, dest: SipParts) -> bool:
    """Part by part, so a ``*`` never crosses a delimiter; an absent part matches only an absent part."""

    def part(pattern: str | None, text: str | None) -> bool:
        return (pattern is None) == (text is None) and (pattern is None or _glob(pattern, text or ""))

    return (
        entry.scheme == dest.scheme
        and part(entry.user, dest.user)  # case-sensitive (RFC 3261 §19.1.4)
        and part(entry.host, dest.host)
        and part(entry.port, dest.port)
        and part(entry.params, dest.params)
    )


@dataclass(frozen=True)
class _Entry:
    """One compiled allowlist entry. ``problem`` is set for an invalid entry, which then matches nothing."""

    text: str
    sip: SipParts | None = None
    problem: str = ""

    def matches(self, destination: str) -> bool:
        if self.problem:
            return False
        if self.text == "*":
            return True
        if self.text.startswith("+"):
            return E164.fullmatch(destination) is not None and _glob(self.text, destination)
        dest = sip_parts(destination)
        if dest is None or self.sip is None:
            return False
        if self.sip.host == "*" and self.sip.user is None and self.sip.port is None and self.sip.params is None:
            return dest.scheme == self.sip.scheme  # sip:* is every SIP URI of the scheme
        return _sip_match(self.sip, dest)


@lru_cache(maxsize=256)
def _compile_entry(entry: str) -> _Entry:
    if not entry or any(ch.isspace() or not ch.isprintable() for ch in entry):
        return _Entry(entry, problem="is empty or contains spaces or control characters")
    if entry == "*":
        return _Entry(entry)
    if entry.startswith("+"):
        if not re.fullmatch(r"\+[0-9*]{1,16}", entry):
            return _Entry(entry, problem="is not + then digits (and * wildcards)")
        if "*" not in entry and not E164.fullmatch(entry):
            return _Entry(entry, problem="is not an E.164 number")
        return _Entry(entry)
    scheme, colon, body = entry.partition(":")
    if not colon or scheme.lower() not in ("sip", "sips") or not body:
        return _Entry(entry, problem="is neither an E.164 number nor a sip:/sips: URI")
    if "*" not in body and sip_parts(f"{scheme.lower()}:{body}") is None:
        return _Entry(entry, problem="is not a valid SIP URI")
    try:
        return _Entry(entry, sip=_sip_entry(body, scheme.lower()))
    except ValueError as exc:
        return _Entry(entry, problem=str(exc))


def check_allowlist_entries(entries: Iterable[str]) -> None:
    """Raise ``InvalidInput`` naming the first entry that can never match anything (checked at start-up)."""
    for entry in entries:
        compiled = _compile_entry(entry)
        if compiled.problem:
            raise InvalidInput(
                f"VAPI_MCP_TRANSFER_ALLOWLIST entry {entry[:80]!r} {compiled.problem}: entries are E.164 numbers "
                "or sip:/sips: URIs, with * wildcards within a part (+1415555*, sip:*@pbx.example.com)"
            )


def allowed(destination: str, allowlist: tuple[str, ...]) -> bool:
    return any(_compile_entry(entry).matches(destination) for entry in allowlist)


def check_transfer_allowed(destination: str, allowlist: tuple[str, ...]) -> None:
    """Raise ``TransferNotAllowed`` unless the destination matches an allowlist entry.

    An empty allowlist allows any valid destination (the documented default). An invalid entry (refused at
    start-up by :func:`check_allowlist_entries`, but settings can be built in code) matches nothing.
    """
    if not allowlist:
        return
    if allowed(destination, allowlist):
        return
    raise TransferNotAllowed(destination, allowlist)
