"""Every destination hidden in a transient assistant, squad or overrides object, found and checked."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, cast

from vapi_mcp.errors import InvalidInput, NestedTransferNotAllowed
from vapi_mcp.policy.allowlist import allowed
from vapi_mcp.policy.destinations import RELAXED_NUMBER, Kind, classify_destination

__all__ = ["MAX_DEPTH", "MAX_NODES", "FoundDestination", "check_nested_destinations"]


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
            if not RELAXED_NUMBER.fullmatch(value):
                raise InvalidInput(f"{path}: {shown} is not a number Vapi can dial (+ then letters or digits)")
        else:
            actual = _classify_at(value, path)
            if kind is not None and actual != kind:
                expected = "an E.164 number" if kind == "number" else "a SIP URI"
                raise InvalidInput(f"{path}: {shown} is not {expected}")
            kind = actual
        if self.allowlist and not allowed(value, self.allowlist):
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
