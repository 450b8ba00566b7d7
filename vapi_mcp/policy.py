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

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal, cast

from vapi_mcp.errors import InvalidInput, NestedTransferNotAllowed, TransferNotAllowed

__all__ = [
    "E164_PATTERN",
    "SIP_URI_PATTERN",
    "FoundDestination",
    "check_allowlist_entries",
    "check_nested_destinations",
    "check_transfer_allowed",
    "classify_destination",
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
_MAX_SIP_URI = 512
_MAX_HOST = 253

_E164 = re.compile(E164_PATTERN[1:-1])
# SIP_URI_PATTERN with its parts named (JSON Schema regexes have no (?P<…>), so the export stays plain).
_SIP_PARTS = re.compile(
    rf"(?P<scheme>sips?):(?:(?P<user>{_USER_CHAR}+)@)?(?P<host>{_HOST})(?::(?P<port>{_PORT}))?(?P<params>{_PARAMS})"
)
# What Vapi itself requires of a number when its E.164 check is off (numberE164CheckEnabled: false).
_RELAXED_NUMBER = re.compile(r"\+?[A-Za-z0-9]{1,32}")


def _host_ok(host: str) -> bool:
    """The semantic checks a regex cannot make: IP literals must be real addresses, names at most 253."""
    try:
        if host.startswith("["):
            ipaddress.IPv6Address(host[1:-1])
        elif all(label.isdigit() for label in host.split(".")):  # all-numeric: only a dotted IPv4 address
            ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return len(host) <= _MAX_HOST


def classify_destination(destination: str) -> Kind:
    """Return ``"number"`` or ``"sip"`` for a valid destination, else raise ``InvalidInput``."""
    if _E164.fullmatch(destination):
        return "number"
    if _sip_parts(destination) is not None:
        return "sip"
    raise InvalidInput(
        f"destination {destination[:80]!r} is neither an E.164 number (like +14155550123) "
        "nor a SIP URI (like sip:agent@pbx.example.com: a valid host, a port from 1 to 65535, "
        "no control characters, escaped or not)"
    )


# ---------------------------------------------------------------------------------------------- allowlist


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


@dataclass(frozen=True)
class _SipParts:
    """A SIP URI cut at its delimiters; ``None`` is an absent part (no user, no port, no parameters)."""

    scheme: str
    user: str | None
    host: str
    port: str | None
    params: str | None


def _sip_parts(destination: str) -> _SipParts | None:
    """The parts of a valid SIP URI (else ``None``); host and parameters lowercased, the user part as is."""
    m = _SIP_PARTS.fullmatch(destination) if len(destination) <= _MAX_SIP_URI else None
    if m is None or not _host_ok(m["host"]):
        return None
    return _SipParts(m["scheme"], m["user"], m["host"].lower(), m["port"], m["params"][1:].lower() or None)


def _sip_entry(body: str, scheme: str) -> _SipParts:
    """An entry's parts, ``*`` kept; the same cuts as :func:`_sip_parts`, done by hand since ``*`` is not
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
    return _SipParts(scheme, user if at else None, host.lower(), port, params.lower() if semi else None)


def _sip_match(entry: _SipParts, dest: _SipParts) -> bool:
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
    sip: _SipParts | None = None
    problem: str = ""

    def matches(self, destination: str) -> bool:
        if self.problem:
            return False
        if self.text == "*":
            return True
        if self.text.startswith("+"):
            return _E164.fullmatch(destination) is not None and _glob(self.text, destination)
        dest = _sip_parts(destination)
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
        if "*" not in entry and not _E164.fullmatch(entry):
            return _Entry(entry, problem="is not an E.164 number")
        return _Entry(entry)
    scheme, colon, body = entry.partition(":")
    if not colon or scheme.lower() not in ("sip", "sips") or not body:
        return _Entry(entry, problem="is neither an E.164 number nor a sip:/sips: URI")
    if "*" not in body and _sip_parts(f"{scheme.lower()}:{body}") is None:
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


def _allowed(destination: str, allowlist: tuple[str, ...]) -> bool:
    return any(_compile_entry(entry).matches(destination) for entry in allowlist)


def check_transfer_allowed(destination: str, allowlist: tuple[str, ...]) -> None:
    """Raise ``TransferNotAllowed`` unless the destination matches an allowlist entry.

    An empty allowlist allows any valid destination (the documented default). An invalid entry (refused at
    start-up by :func:`check_allowlist_entries`, but settings can be built in code) matches nothing.
    """
    if not allowlist:
        return
    if _allowed(destination, allowlist):
        return
    raise TransferNotAllowed(destination, allowlist)


# ---------------------------------------------------------------------------------------------- nested


@dataclass(frozen=True)
class FoundDestination:
    """A destination found inside an object: where (JSON path), what kind, and the value as written."""

    path: str
    kind: Kind
    value: str


MAX_DEPTH: Final = 64
MAX_NODES: Final = 100_000
# Where Vapi lets the destination be chosen while the call runs (a server's answer, a custom LLM): nothing
# written in the object says where the call goes, so nothing can be checked against an allowlist.
_DYNAMIC_REASON = (
    "the destination is chosen at run time ({what}), so it cannot be checked against "
    "VAPI_MCP_TRANSFER_ALLOWLIST; list the destinations in the object instead"
)
# TwiML Vapi runs on the operator's leg of a warm transfer: only these verbs are documented, and none dials.
_TWIML_VERBS = frozenset({"response", "say", "play", "pause", "hangup", "gather"})
_TWIML_TAG = re.compile(r"<\s*([A-Za-z][A-Za-z0-9]*)")
_TWIML_URL_ATTR = re.compile(r"\b(?:action|url|statusCallback)\s*=", re.IGNORECASE)
_LOOKS_LIKE = re.compile(r"\s*(?:\+|sips?:|[0-9][0-9\s().-]{4,}$)", re.IGNORECASE)
_SCHEMA_VALUES = ("enum", "const", "default", "examples")


def _norm(key: object) -> str:
    """Compare keys the way a lenient reader might: ``sip_uri``, ``SipUri`` and ``sipUri`` are one key."""
    return str(key).replace("_", "").replace("-", "").lower()


def _child_path(path: str, key: object) -> str:
    text = str(key)[:40]
    return f"{path}.{text}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) else f"{path}[{text!r}]"


def _as_mapping(value: object) -> Mapping[object, object] | None:
    return cast(Mapping[object, object], value) if isinstance(value, Mapping) else None


def _as_list(value: object) -> Sequence[object] | None:
    return cast(Sequence[object], value) if isinstance(value, list | tuple) else None


class _Walk:
    """One walk over one object: collects destinations and raises on the first refusal."""

    def __init__(self, allowlist: tuple[str, ...]) -> None:
        self.allowlist = allowlist
        self.found: list[FoundDestination] = []

    def refuse_dynamic(self, path: str, what: str) -> None:
        if self.allowlist:
            reason = _DYNAMIC_REASON.format(what=what)
            raise NestedTransferNotAllowed("a destination chosen at run time", self.allowlist, path=path, reason=reason)

    def destination(self, path: str, value: object, kind: Kind | None, *, relaxed: bool = False) -> None:
        """Check one value in a destination position: its shape always, the allowlist when one is set."""
        if not isinstance(value, str):
            raise InvalidInput(f"{path}: a destination must be a string, not {type(value).__name__}")
        shown = repr(value[:80])
        if "{{" in value:  # a Liquid template: Vapi fills it in during the call
            if self.allowlist:
                reason = "it is a template filled in during the call, so it cannot be checked against the allowlist"
                raise NestedTransferNotAllowed(shown, self.allowlist, path=path, reason=reason)
            return
        if kind == "number" and relaxed:
            if not _RELAXED_NUMBER.fullmatch(value):
                raise InvalidInput(f"{path}: {shown} is not a number Vapi can dial (+ then letters or digits)")
        else:
            actual = _classify_at(value, path)
            if kind is not None and actual != kind:
                expected = "an E.164 number" if kind == "number" else "a SIP URI"
                raise InvalidInput(f"{path}: {shown} is not {expected}")
            kind = actual
        if self.allowlist and not _allowed(value, self.allowlist):
            raise NestedTransferNotAllowed(shown, self.allowlist, path=path)
        self.found.append(FoundDestination(path, kind or "number", value))  # a relaxed number is a number

    def twiml(self, path: str, value: object) -> None:
        if not self.allowlist or not isinstance(value, str):
            return
        verbs = {tag.lower() for tag in _TWIML_TAG.findall(value)}
        if not verbs <= _TWIML_VERBS or _TWIML_URL_ATTR.search(value):
            reason = (
                "TwiML may only Say, Play, Pause, Gather (without an action URL) or Hangup under an allowlist: "
                "other verbs and callback URLs can reach numbers the allowlist cannot see"
            )
            raise NestedTransferNotAllowed("TwiML instructions", self.allowlist, path=path, reason=reason)

    def schema_hint(self, path: str, schema: Mapping[object, object]) -> None:
        """A tool parameter named ``destination`` whose JSON schema offers numbers for the model to pick."""
        for name in _SCHEMA_VALUES:
            values = schema.get(name)
            listed = _as_list(values)
            for index, item in enumerate(listed if listed is not None else [values]):
                if isinstance(item, str) and _LOOKS_LIKE.match(item):
                    self.destination(f"{path}.{name}" + (f"[{index}]" if listed is not None else ""), item, None)

    def node(self, path: str, node: Mapping[object, object]) -> None:
        """The rules for one object: its ``type`` first, then each of its values."""
        keys = {_norm(key): key for key in node}
        self.node_type(path, _norm(node.get("type", "")), keys, node)
        relaxed = node.get(keys.get("numbere164checkenabled", "numberE164CheckEnabled")) is False
        for key, value in node.items():
            self.value(_child_path(path, key), _norm(key), value, relaxed=relaxed)

    def node_type(self, path: str, kind: str, keys: Mapping[str, object], node: Mapping[object, object]) -> None:
        """Objects whose type says the destination is not written in them."""
        if kind == "transfercall" and not node.get(keys.get("destinations", "destinations")):
            self.refuse_dynamic(path, "a transferCall tool without destinations asks the server or the model")
        elif kind == "dynamic":
            self.refuse_dynamic(path, "a dynamic destination is decided by a server")
        elif kind in ("transfer", "handoff") and "destination" not in keys and "destinations" not in keys:
            self.refuse_dynamic(path, f"a {kind} without a destination asks the server")
        # ({"type": "number"} without a number is left alone: it is also every JSON schema's numeric parameter.)

    def value(self, where: str, name: str, value: object, *, relaxed: bool) -> None:
        container = _as_mapping(value) is not None or _as_list(value) is not None
        if name in ("number", "forwardingphonenumber") and not container:
            self.destination(where, value, "number", relaxed=relaxed and name == "number")
        elif name == "sipuri" and not container:
            self.destination(where, value, "sip")
        elif name in ("destination", "fallbackdestination") and isinstance(value, str):
            self.destination(where, value, None)
        elif name == "destination" and (schema := _as_mapping(value)) is not None:
            self.schema_hint(where, schema)  # a tool parameter's schema; a destination object has none of it
        elif name == "destinations" and (items := _as_list(value)) is not None:
            for index, item in enumerate(items):
                if isinstance(item, str):
                    self.destination(f"{where}[{index}]", item, None)
        elif name == "twiml":
            self.twiml(where, value)


def _classify_at(value: str, path: str) -> Kind:
    """:func:`classify_destination`, with the JSON path in the error."""
    try:
        return classify_destination(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc}") from None


def check_nested_destinations(
    value: object, allowlist: tuple[str, ...], *, path: str = "assistant"
) -> tuple[FoundDestination, ...]:
    """Check every destination a call could be sent to from inside ``value``; return the ones found.

    ``value`` is a transient assistant, a squad, an assistant or squad overrides object, a handoff or
    transfer destination: anything the agent hands over for Vapi to run. Give each separately, with
    ``path`` naming the argument (``"assistant"``, ``"squad"``, ``"assistantOverrides"``), not the whole
    ``POST /call`` body: ``customer.number`` and ``phoneNumber.number`` are the call's own ends, not
    transfer destinations. The walk is generic, so destinations hide nowhere a schema change could add:

    - any object's ``number`` / ``forwardingPhoneNumber`` (numbers) and ``sipUri`` (SIP URIs), whatever
      the object (``transferCall`` tool destinations, ``transferPlan``-bearing destinations, hook
      ``transfer`` actions, phone-number ``fallbackDestination``, legacy assistant fields, squad members and
      their ``assistantOverrides``, unknown objects of the same shape); keys compare without case, ``_``
      or ``-``, so a ``sip_uri`` a lenient reader might honour is checked too;
    - strings in a ``destination(s)`` position, and number-like strings a tool's parameter schema offers
      the model for ``destination`` (``enum``, ``const``, ``default``, ``examples``);
    - with an allowlist, what cannot be checked is refused: a ``transferCall`` tool without destinations,
      a ``dynamic`` handoff destination, a transfer/handoff with no destination (all decided at run time
      by a server or the model), a ``{{template}}`` destination, and TwiML that could dial out.

    Without an allowlist every destination's shape is still validated (the same rules as ``transfer_call``:
    E.164, or Vapi's relaxed rule where ``numberE164CheckEnabled`` is false; a strict SIP URI), since a
    malformed one is refused by Vapi only once a real call is placed, and a SIP URI with an escaped CR LF
    is a header injection whatever the policy; templates and run-time destinations pass (Vapi resolves them).

    Raises :class:`~vapi_mcp.errors.NestedTransferNotAllowed` (a ``TransferNotAllowed``) naming the rule and
    the JSON path, or ``InvalidInput`` (with the path) for a malformed destination or an object nested
    deeper than 64 levels or larger than 100,000 values, which cannot be checked whole.
    """
    walk = _Walk(tuple(allowlist))
    stack: list[tuple[str, object, int]] = [(path, value, 0)]
    seen = 0
    while stack:
        where, node, depth = stack.pop()
        seen += 1
        if depth > MAX_DEPTH or seen > MAX_NODES:
            raise InvalidInput(f"{where}: nested too deep or too large to check its destinations (refused)")
        if (mapping := _as_mapping(node)) is not None:
            walk.node(where, mapping)
            stack.extend(reversed([(_child_path(where, k), v, depth + 1) for k, v in mapping.items()]))
        elif (items := _as_list(node)) is not None:
            stack.extend(reversed([(f"{where}[{i}]", v, depth + 1) for i, v in enumerate(items)]))
    return tuple(walk.found)
