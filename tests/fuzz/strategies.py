"""Hypothesis strategies for hostile input: tool arguments from a JSON schema, transient assistants with
destinations hidden in them, listen frames and Vapi server messages with secrets planted at any depth."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "ALLOWED",
    "ALLOWLIST",
    "FORBIDDEN",
    "assistants",
    "destinations",
    "e164_junk",
    "hidden_destinations",
    "hostile_ids",
    "hostile_values",
    "json_values",
    "passes_allowlist",
    "plant",
    "sip_junk",
    "tool_arguments",
    "unicode_text",
]

# The transfer allowlist the fuzzed server runs with, what passes it, what must not.
ALLOWLIST = ("+1415555*", "sip:desk@pbx.example.com")
ALLOWED = ["+14155550123", "+14155559999", "sip:desk@pbx.example.com", "sip:desk@PBX.example.com"]
FORBIDDEN = [
    "+19995550000",
    "+442071234567",
    "sip:desk@evil.example.com",
    "sip:Desk@pbx.example.com",  # RFC 3261: the user part is case-sensitive
    "sip:desk@evil.com;x=.pbx.example.com",
    "{{customer.number}}",
]

_PASSES = re.compile(r"\+1415555[0-9]{0,8}|sip:desk@(?i:pbx\.example\.com)")


def passes_allowlist(destination: str) -> bool:
    """ALLOWLIST read independently of the policy code: what may ever reach Vapi as a destination."""
    return _PASSES.fullmatch(destination) is not None


_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_SPECIAL = st.sampled_from(["\x00", "\r", "\n", "\u202e", "\ufeff", "\u2028", "é", "𝕏", "\\", '"', "'", "<", "/", "%"])
unicode_text = st.text(st.one_of(st.characters(), _SURROGATE, _SPECIAL), max_size=40)


def _named(name: str, strategy: Callable[[], st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """``strategy()`` (built on first use) under a short repr: hypothesis renders strategies (to report a
    failure, or a change of the global random state by the server's thread), and these nest each other
    many times; rendered whole they would be hundreds of kB."""

    def draw_from(draw: st.DrawFn) -> Any:
        return draw(strategy())

    draw_from.__name__ = draw_from.__qualname__ = name
    return st.composite(draw_from)()


hostile_values = _named("hostile_values", lambda: _hostile_values)
json_values = _named("json_values", lambda: _json_values)
destinations = _named("destinations", lambda: _destinations)
assistants = _named("assistants", lambda: _assistants)
e164_junk = _named("e164_junk", lambda: _e164_junk)
sip_junk = _named("sip_junk", lambda: _sip_junk)

_HUGE = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["a", "+1", "\u202e", "\ud800", "é", "/..", "%0d%0a", "sip:", "{{x}}", " ", "1"]),
    st.sampled_from([501, 2001, 8001, 70_000, 300_000]),
)

hostile_ids = st.sampled_from(
    [
        "",
        ".",
        "..",
        "../../etc/passwd",
        "..%2f..%2fetc",
        "a/b",
        "a\\b",
        "a\x00b",
        "\x00",
        "c1\r\n",
        " c1",
        "-c1",
        "_c1",
        "c1.json",
        "CON",
        "ﬁ",
        "\ud800",
    ]
) | st.builds("a".__mul__, st.sampled_from([64, 65, 129]))

_e164_junk = st.one_of(
    st.sampled_from(
        [
            "+",
            "+0",
            "+0123456789",
            "+1" + "5" * 14,
            "+1" + "5" * 15,
            "+1415555012３",  # a full-width digit
            "+١٤١٥٥٥٥٠١٢٣",  # Arabic-Indic digits
            "+1 415 555 0123",
            "14155550123",
            "+14155550123\n",
            "+14155550123\x00",
            "++14155550123",
            "+1-415-555-0123",
            "+14155550123;ext=1",
            "+1415555*",
            "tel:+14155550123",
            " +14155550123",
        ]
    ),
    st.from_regex(r"\+?[0-9 ().*#-]{0,25}", fullmatch=True),
)

_sip_junk = st.one_of(
    st.sampled_from(
        [
            "sip:desk@pbx.example.com\r\nX-Evil: 1",
            "sip:desk%0d%0a@pbx.example.com",
            "sip:desk@pbx.example.com:99999",
            "sip:desk@pbx.example.com:0",
            "sip:a@-",
            "sip:@pbx.example.com",
            "sip:desk@[::1",
            "sip:desk@[::g]",
            "sip:desk@999.1.1.1",
            "SIP:desk@PBX.EXAMPLE.COM",
            "sip:desk@pbx.example.com;transport=tcp",
            "sip:desk@pbx.example.com?X-Header=1",
            "sips:desk@evil.com;x=.pbx.example.com",
            "sip:desk@pbx.example.com\x00",
            "sip:desk@evil.com%00.pbx.example.com",
            "sip:desk@pbx.example.com.",
        ]
    ),
    st.builds("sip:{}@pbx.example.com".format, st.builds("a".__mul__, st.just(600))),
    st.builds("sip:desk@{}com".format, st.builds("a.".__mul__, st.just(200))),
    st.builds(
        lambda scheme, user, host, tail: f"{scheme}:{user}@{host}{tail}",
        st.sampled_from(["sip", "sips", "SIP", "tel", "http"]),
        st.text(st.sampled_from("desk%0aD;@:[]"), max_size=8),
        st.text(st.sampled_from("pbx.example.com-[]:0123456789\r\n"), min_size=1, max_size=20),
        st.sampled_from(["", ":5060", ";transport=tcp", "?a=b", "\r\n", ":65536"]),
    ),
)

_destinations = st.one_of(st.sampled_from(ALLOWED), st.sampled_from(FORBIDDEN), e164_junk, sip_junk)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    unicode_text,
)
_json_values = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(unicode_text, children, max_size=4),
    max_leaves=25,
)

_hostile_values = st.one_of(
    json_values,
    _HUGE,
    hostile_ids,
    e164_junk,
    sip_junk,
    st.sampled_from([-1, 0, -(2**63), 2**63, 10**30, -1.5, 1e308, -0.0, math.inf, -math.inf, math.nan]),
    st.sampled_from([True, False, None, [], {}, [None], {"": None}, "null", "true", "0", "NaN"]),
    st.recursive(st.just("deep"), lambda inner: st.lists(inner, min_size=1, max_size=1), max_leaves=300),
)

# ------------------------------------------------------------------------------------- transient assistants

_DEST_TYPES = st.sampled_from(["number", "sip", "assistant", "dynamic", "transfer", "handoff", "transferCall"])
_TWIML = st.sampled_from(["<Say>hi</Say>", "<Dial>+19995550000</Dial>", "<Gather action='https://x.example'/>"])


def _assistant_strategy(dests: st.SearchStrategy[str], junk: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Transient assistants whose destinations (in every place Vapi reads one) are drawn from ``dests``;
    with ``junk``, also the shapes only a hostile agent writes (odd destination types, keys spelled
    another way, schema hints, run-time destinations, nonsense monitor plans)."""
    number = st.fixed_dictionaries(
        {"type": st.just("number"), "number": dests},
        optional={
            "numberE164CheckEnabled": st.booleans(),
            "extension": st.from_regex(r"[0-9]{1,5}", fullmatch=True),
            "transferPlan": st.fixed_dictionaries(
                {"mode": st.sampled_from(["blind-transfer", "warm-transfer-twiml", "warm-transfer-say-message"])},
                optional={"twiml": _TWIML, "message": unicode_text},
            ),
        },
    )
    sip = st.fixed_dictionaries({"type": st.just("sip"), "sipUri": dests})
    odd = st.fixed_dictionaries(
        {"type": _DEST_TYPES},
        optional={
            "sip_uri": dests,
            "SipUri": dests,
            "forwardingPhoneNumber": dests,
            "destination": st.one_of(dests, st.fixed_dictionaries({"enum": st.lists(dests, max_size=3)})),
            "fallbackDestination": dests,
        },
    )
    objects = st.one_of(number, sip, odd, dests) if junk else st.one_of(number, sip)
    enum_hint = st.fixed_dictionaries({"type": st.just("string"), "enum": st.lists(dests, max_size=2)})
    tool = st.fixed_dictionaries(
        {"type": st.sampled_from(["transferCall", "transfercall", "handoff", "function", "endCall"])},
        optional={
            "destinations": st.lists(objects, max_size=3),
            "function": st.fixed_dictionaries(
                {
                    "name": st.just("transfer"),
                    "parameters": st.fixed_dictionaries(
                        {"properties": st.fixed_dictionaries({"destination": enum_hint})}
                    ),
                }
            ),
        },
    )
    if not junk:
        tool = st.fixed_dictionaries(
            {"type": st.just("transferCall"), "destinations": st.lists(objects, min_size=1, max_size=3)}
        )
    hook = st.fixed_dictionaries(
        {
            "on": st.sampled_from(["call.ending", "customer.speech.timeout"]),
            "do": st.lists(st.fixed_dictionaries({"type": st.just("transfer"), "destination": objects}), max_size=2),
        }
    )
    fields: dict[str, st.SearchStrategy[Any]] = {
        "name": unicode_text,
        "firstMessage": unicode_text,
        "model": st.fixed_dictionaries(
            {"provider": st.just("openai"), "model": st.just("gpt-4o")},
            optional={"tools": st.lists(tool, max_size=3), "messages": json_values},
        ),
        "forwardingPhoneNumber": dests,
        "hooks": st.lists(hook, max_size=2),
    }
    if junk:
        member = st.fixed_dictionaries({"assistantDestinations": st.lists(objects, max_size=2)})
        fields |= {
            "voice": json_values,
            "assistantOverrides": st.fixed_dictionaries({}, optional={"forwardingPhoneNumber": dests}),
            "squad": st.fixed_dictionaries({"members": st.lists(member, max_size=2)}),
            "monitorPlan": st.fixed_dictionaries(
                {}, optional={"listenEnabled": st.booleans(), "controlEnabled": hostile_values}
            ),
        }
    return st.fixed_dictionaries({}, optional=fields)


def _with_junk(core: dict[str, Any], junk: dict[str, Any]) -> dict[str, Any]:
    return {**junk, **core}


_hostile_core = _assistant_strategy(destinations, junk=True)
_assistants = st.one_of(
    _assistant_strategy(st.sampled_from(ALLOWED), junk=False),  # these may pass the allowlist
    _hostile_core,
    st.builds(_with_junk, _hostile_core, st.dictionaries(unicode_text, hostile_values, max_size=3)),
    st.recursive(  # deep nesting: the policy walk must refuse or pass it, never crash
        _hostile_core,
        lambda inner: st.fixed_dictionaries(
            {"model": st.fixed_dictionaries({"tools": st.lists(inner, min_size=1, max_size=1)})}
        ),
        max_leaves=80,
    ),
)


@st.composite
def hidden_destinations(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A transient assistant with one to three destinations, each hidden where Vapi would read it, and the
    destinations themselves (in or out of ALLOWLIST, or malformed)."""
    picked: list[str] = []

    def dest() -> str:
        value = draw(st.one_of(st.sampled_from(ALLOWED), st.sampled_from(FORBIDDEN), e164_junk, sip_junk))
        picked.append(value)
        return value

    def hint() -> str:  # a value offered to the model: checked only if it looks like a number or SIP URI
        value = dest()
        if not re.match(r"\s*(?:\+|sips?:|[0-9][0-9\s().-]{4,}$)", value, re.IGNORECASE):
            picked.remove(value)
        return value

    places = [
        lambda: {"forwardingPhoneNumber": dest()},
        lambda: {
            "model": {
                "provider": "openai",
                "model": "gpt-4o",
                "tools": [{"type": "transferCall", "destinations": [{"type": "number", "number": dest()}]}],
            }
        },
        lambda: {
            "model": {
                "provider": "openai",
                "model": "gpt-4o",
                "tools": [{"type": "transferCall", "destinations": [{"type": "sip", "sipUri": dest()}]}],
            }
        },
        lambda: {
            "hooks": [
                {"on": "call.ending", "do": [{"type": "transfer", "destination": {"type": "number", "number": dest()}}]}
            ]
        },
        lambda: {
            "hooks": [
                {"on": "call.ending", "do": [{"type": "transfer", "destination": {"type": "sip", "sipUri": dest()}}]}
            ]
        },
        lambda: {"model": {"tools": [{"type": "transferCall", "destinations": [dest()]}]}},
        lambda: {"squad": {"members": [{"assistantOverrides": {"forwardingPhoneNumber": dest()}}]}},
        lambda: {
            "model": {
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "parameters": {"properties": {"destination": {"type": "string", "enum": [hint()]}}}
                        },
                    }
                ]
            }
        },
        lambda: {"fallbackDestination": {"type": "number", "number": dest()}},
    ]
    assistant: dict[str, Any] = {}
    for index in draw(st.lists(st.integers(0, len(places) - 1), min_size=1, max_size=3, unique=True)):
        assistant = _deep_merge(assistant, places[index]())
    return assistant, picked


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = _deep_merge(out[key], value)
        elif isinstance(out.get(key), list) and isinstance(value, list):
            out[key] = [*out[key], *value]
        else:
            out[key] = value
    return out


# ------------------------------------------------------------------------------------- tool arguments

_EXTRA_KEYS = st.one_of(
    unicode_text, st.sampled_from(["__proto__", "_meta", "callId", "call_id ", "constructor", "ctx"])
)


def _from_schema(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Values a JSON schema (the subset pydantic writes for our tools) accepts, give or take its patterns."""
    if "anyOf" in schema:
        return st.one_of([_from_schema(option) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        lo, hi = schema.get("minLength", 0), min(schema.get("maxLength", 60), 60)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: lo <= len(s) <= hi)
        return st.text(min_size=lo, max_size=max(lo, hi))
    if kind == "integer":
        low = schema["exclusiveMinimum"] + 1 if "exclusiveMinimum" in schema else schema.get("minimum", -1_000)
        return st.integers(min_value=low, max_value=schema.get("maximum", low + 10_000))
    if kind == "number":
        return st.floats(
            min_value=schema.get("minimum", schema.get("exclusiveMinimum", -1e6)),
            max_value=schema.get("maximum", 1e6),
            exclude_min="exclusiveMinimum" in schema,
            allow_nan=False,
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(_from_schema(schema.get("items", {})), max_size=min(schema.get("maxItems", 5), 5))
    if kind == "object":
        return st.dictionaries(unicode_text, json_values, max_size=4)
    return json_values


def tool_arguments(
    schema: Mapping[str, Any], shaped: Mapping[str, st.SearchStrategy[Any]], exactly_one: Sequence[str] = ()
) -> tuple[st.SearchStrategy[dict[str, Any]], st.SearchStrategy[dict[str, Any]]]:
    """Arguments for one tool, read from its input schema: ``(well_formed, hostile)``.

    Well-formed arguments have every required field and some optional ones, each of its schema's type
    (``shaped`` gives a property's values: real call ids, destinations in and out of the allowlist…).
    Hostile ones put a wrong type, a huge or unicode string or a nested object in some fields, add extra
    keys, leave required fields out, or are any JSON object at all. Of the properties in ``exactly_one``
    (a rule the schema cannot say), a well-formed call gives one; a hostile one any number.
    """
    props: Mapping[str, Mapping[str, Any]] = schema.get("properties", {})
    required: Sequence[str] = schema.get("required", [])
    good = {name: shaped.get(name, _from_schema(props[name])) for name in props}
    bad = {name: st.one_of(strategy, hostile_values) for name, strategy in good.items()}

    def objects(
        fields: Mapping[str, st.SearchStrategy[Any]], needed: Sequence[str]
    ) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {n: fields[n] for n in needed}, optional={n: v for n, v in fields.items() if n not in needed}
        )

    exclusive = [name for name in exactly_one if name in props]
    well_formed = objects({n: v for n, v in good.items() if n not in exclusive}, required)
    if exclusive:
        one = st.one_of([st.fixed_dictionaries({name: good[name]}) for name in exclusive])
        well_formed = st.builds(_with_junk, well_formed, one)
    extras = st.dictionaries(_EXTRA_KEYS, hostile_values, min_size=1, max_size=3)
    hostile = st.one_of(
        objects(bad, required),
        st.builds(_with_junk, well_formed, extras),
        objects(bad, ()),  # required fields may be missing
        st.dictionaries(st.one_of(st.sampled_from(list(props) or ["x"]), unicode_text), hostile_values, max_size=4),
    )
    return well_formed, hostile


# ------------------------------------------------------------------------------------- planting secrets


@st.composite
def plant(draw: st.DrawFn, value: Any, secrets: Sequence[str], keys: Sequence[str]) -> Any:
    """``value`` with one of ``secrets`` put at a random depth: as a value under a random or credential key,
    inside a string, as a key, or as a list item."""
    secret = draw(st.sampled_from(list(secrets)))
    how = draw(st.sampled_from(["value", "key", "text", "item", "secret-key"]))
    if how == "text":
        piece: Any = draw(st.sampled_from([f"see {secret} now", f"{secret}", f'{{"url": "{secret}"}}', f"<{secret}>"]))
    elif how == "key":
        piece = {secret: draw(json_leaf)}
    elif how == "item":
        piece = [draw(json_leaf), secret]
    elif how == "secret-key":
        piece = {draw(st.sampled_from(list(keys))): draw(st.sampled_from([secret, {"nested": secret}, [secret]]))}
    else:
        piece = {draw(unicode_text): secret}
    return _insert(draw, value, piece)


def _insert(draw: st.DrawFn, value: Any, piece: Any) -> Any:
    """A copy of ``value`` with ``piece`` added somewhere: in a dict under a new key, appended to a list, or
    wrapped together with a leaf."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value, key=repr)))
        return {**value, key: _insert(draw, value[key], piece)}
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], _insert(draw, value[index], piece), *value[index + 1 :]]
    if isinstance(value, dict):
        return {**value, draw(st.sampled_from(["planted", "data", "x"])): piece}
    if isinstance(value, list):
        return [*value, piece]
    return [value, piece]


def dumps(value: Any) -> str:
    """JSON text as a hostile peer could send it (non-ASCII raw, lone surrogates escaped)."""
    return json.dumps(value)
