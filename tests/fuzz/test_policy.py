"""Fuzz the operator policy (issue 8, defects 3, 8, 9): it raises nothing but its documented errors.

``classify_destination`` answers "number" or "sip" or raises ``InvalidInput``; ``check_transfer_allowed``
passes or raises ``TransferNotAllowed``; ``check_allowlist_entries`` passes or raises ``InvalidInput``;
``check_nested_destinations`` returns what it found or raises ``InvalidInput`` / ``NestedTransferNotAllowed``.
What passes is what an independent reading of the rules allows: E.164 numbers, strict SIP URIs with no
control character, the allowlist's entries.
"""

from __future__ import annotations

import re
import time

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.profile import fuzz
from tests.fuzz.strategies import (
    ALLOWED,
    ALLOWLIST,
    assistants,
    destinations,
    e164_junk,
    hidden_destinations,
    hostile_values,
    json_values,
    passes_allowlist,
    sip_junk,
    unicode_text,
)
from vapi_mcp.errors import InvalidInput, NestedTransferNotAllowed, TransferNotAllowed
from vapi_mcp.policy import (
    check_allowlist_entries,
    check_nested_destinations,
    check_transfer_allowed,
    classify_destination,
)

EXAMPLES = 300
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_CONTROL = re.compile(r"[\x00-\x20\x7f]|%(?:[01][0-9a-fA-F]|7[fF]|20)")

any_destination = st.one_of(destinations, unicode_text, st.text(max_size=600))
allowlist_entries = st.one_of(
    st.sampled_from([*ALLOWLIST, "*", "+1*", "sip:*", "sips:*@*.example.com", "sip:desk@*.example.com"]),
    st.sampled_from(["", " ", "+", "+1 415*", "sip:", "sip:a@b@c", "sip:[::1", "tel:+1", "sip:a@b;", "+*+*+*"]),
    e164_junk,
    sip_junk,
    unicode_text,
)


@fuzz(EXAMPLES)
@given(destination=any_destination)
def test_classify_destination_answers_or_refuses(destination: str) -> None:
    try:
        kind = classify_destination(destination)
    except InvalidInput as exc:
        assert str(exc).startswith("destination ") and len(str(exc)) < 600  # quotes at most 80 characters
        return
    if kind == "number":
        assert _E164.fullmatch(destination)
    else:
        assert kind == "sip" and re.match(r"sips?:", destination)
        assert not _CONTROL.search(destination), "a SIP URI with a control character or space passed"
        assert len(destination) <= 512


@fuzz(EXAMPLES)
@given(
    destination=any_destination,
    allowlist=st.one_of(st.just(ALLOWLIST), st.lists(allowlist_entries, max_size=4).map(tuple)),
)
def test_check_transfer_allowed_passes_or_refuses(destination: str, allowlist: tuple[str, ...]) -> None:
    started = time.thread_time()  # CPU: a loaded machine does not count
    try:
        check_transfer_allowed(destination, allowlist)
    except TransferNotAllowed:
        assert allowlist, "an empty allowlist allows every destination"
    else:
        if allowlist == ALLOWLIST:
            assert passes_allowlist(destination), f"{destination!r} passed {ALLOWLIST}"
    assert time.thread_time() - started < 0.5


@fuzz(EXAMPLES)
@given(entries=st.lists(allowlist_entries, max_size=4))
def test_check_allowlist_entries_accepts_or_names_the_entry(entries: list[str]) -> None:
    try:
        check_allowlist_entries(entries)
    except InvalidInput as exc:
        assert "VAPI_MCP_TRANSFER_ALLOWLIST entry" in str(exc)


@fuzz(EXAMPLES)
@given(
    value=st.one_of(assistants, hostile_values, json_values, hidden_destinations().map(lambda pair: pair[0])),
    allowlist=st.sampled_from([(), ALLOWLIST, ("*",)]),
)
def test_check_nested_destinations_finds_or_refuses(value: object, allowlist: tuple[str, ...]) -> None:
    started = time.thread_time()  # CPU: a loaded machine does not count
    try:
        found = check_nested_destinations(value, allowlist)
    except NestedTransferNotAllowed as exc:
        assert allowlist and "assistant" in str(exc)
    except TransferNotAllowed:  # the parent class: only ever raised as NestedTransferNotAllowed here
        raise AssertionError("a plain TransferNotAllowed from the nested walk") from None
    except InvalidInput as exc:
        assert str(exc).startswith("assistant"), str(exc)  # the JSON path of the offending value
    else:
        for item in found:
            assert item.path.startswith("assistant") and item.kind in ("number", "sip")
            if allowlist == ALLOWLIST:
                assert passes_allowlist(item.value), f"{item.value!r} at {item.path} passed {ALLOWLIST}"
    assert time.thread_time() - started < 0.5


@fuzz(30)
@given(depth=st.integers(50, 3_000), allowed=st.sampled_from(ALLOWED))
def test_deep_objects_are_refused_not_a_crash(depth: int, allowed: str) -> None:
    """Nesting past the walk's limit is a clear refusal (no RecursionError), however deep."""
    deep: object = {"forwardingPhoneNumber": allowed}
    for _ in range(depth):
        deep = {"model": {"tools": [deep]}}
    try:
        check_nested_destinations(deep, ALLOWLIST)
    except InvalidInput as exc:
        assert "nested too deep or too large" in str(exc)
    else:
        raise AssertionError(f"{depth * 3} levels were walked whole")


def test_huge_objects_are_refused_not_walked() -> None:
    wide = {"model": {"tools": [{"type": "function"}] * 200_001}}
    try:
        check_nested_destinations(wide, ())
    except InvalidInput as exc:
        assert "too large" in str(exc)
    else:
        raise AssertionError("200,001 values were walked whole")
