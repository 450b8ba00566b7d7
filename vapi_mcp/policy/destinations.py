"""What a transfer destination may look like: an E.164 number or a strict SIP URI (RFC 3261, narrowed)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final, Literal

from vapi_mcp.errors import InvalidInput

__all__ = [
    "E164",
    "E164_PATTERN",
    "MAX_SIP_URI",
    "RELAXED_NUMBER",
    "SIP_PARTS",
    "SIP_URI_PATTERN",
    "Kind",
    "SipParts",
    "classify_destination",
    "host_ok",
    "sip_parts",
]

Kind = Literal["number", "sip"]

# ITU-T E.164: a plus, a non-zero country digit, at most 15 digits in all.
E164_PATTERN: Final = r"^\+[1-9][0-9]{6,14}$"

# RFC 3261 §25.1, narrowed to what a transfer needs. A percent escape must be a printable ASCII character
# (%21-%7E): no escaped CR, LF, NUL or other control that would end up inside a SIP header.
_ESC = r"%(?:2[1-9A-Fa-f]|[3-6][0-9A-Fa-f]|7[0-9A-Ea-e])"
_USER_CHAR = rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,;]|{_ESC})"  # unreserved / user-unreserved (no '?', no '/')
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # RFC 1123: no leading or trailing '-'
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]{{2,45}}\])"  # a name, dotted IPv4, or a bracketed IPv6
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"  # 1-65535
_PARAM_CHAR = rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|{_ESC})"
_PARAMS = rf"(?:;{_PARAM_CHAR}+(?:={_PARAM_CHAR}+)?)*"
# sip:/sips: with an optional user part, a host, an optional port and parameters; no headers ('?'), no spaces.
SIP_URI_PATTERN: Final = rf"^sips?:(?:{_USER_CHAR}+@)?{_HOST}(?::{_PORT})?{_PARAMS}$"
MAX_SIP_URI = 512
_MAX_HOST = 253

E164 = re.compile(E164_PATTERN[1:-1])
# SIP_URI_PATTERN with its parts named (JSON Schema regexes have no (?P<…>), so the export stays plain).
SIP_PARTS = re.compile(
    rf"(?P<scheme>sips?):(?:(?P<user>{_USER_CHAR}+)@)?(?P<host>{_HOST})(?::(?P<port>{_PORT}))?(?P<params>{_PARAMS})"
)
# What Vapi itself requires of a number when its E.164 check is off (numberE164CheckEnabled: false).
RELAXED_NUMBER = re.compile(r"\+?[A-Za-z0-9]{1,32}")


def host_ok(host: str) -> bool:
    """The semantic checks a regex cannot make: IP literals must be real addresses, names at most 253."""
    try:
        if host.startswith("["):
            ipaddress.IPv6Address(host[1:-1])
        elif all(label.isdigit() for label in host.split(".")):  # all-numeric: only a dotted IPv4 address
            ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return len(host) <= _MAX_HOST


@dataclass(frozen=True)
class SipParts:
    """A SIP URI cut at its delimiters; ``None`` is an absent part (no user, no port, no parameters)."""

    scheme: str
    user: str | None
    host: str
    port: str | None
    params: str | None


def sip_parts(destination: str) -> SipParts | None:
    """The parts of a valid SIP URI (else ``None``); host and parameters lowercased, the user part as is."""
    m = SIP_PARTS.fullmatch(destination) if len(destination) <= MAX_SIP_URI else None
    if m is None or not host_ok(m["host"]):
        return None
    return SipParts(m["scheme"], m["user"], m["host"].lower(), m["port"], m["params"][1:].lower() or None)


def classify_destination(destination: str) -> Kind:
    """Return ``"number"`` or ``"sip"`` for a valid destination, else raise ``InvalidInput``."""
    if E164.fullmatch(destination):
        return "number"
    if sip_parts(destination) is not None:
        return "sip"
    raise InvalidInput(
        f"destination {destination[:80]!r} is neither an E.164 number (like +14155550123) "
        "nor a SIP URI (like sip:agent@pbx.example.com: a valid host, a port from 1 to 65535, "
        "no control characters, escaped or not)"
    )
