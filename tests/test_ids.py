"""The one id rule (issue 8, defect 10): every layer accepts exactly the same ids."""

from __future__ import annotations

import re
import uuid

import pytest

from vapi_mcp.errors import InvalidInput
from vapi_mcp.ids import (
    ID_MAX_LENGTH,
    ID_PATTERN,
    VAPI_UUID_PATTERN,
    describe_id_rule,
    is_valid_id,
    is_vapi_uuid,
    validate_id,
)
from vapi_mcp.store.files import validate_call_id

FRESH_UUID = str(uuid.uuid4())
GOOD = ["7420f27a-30fd-4f49-a995-5549ae7cc00d", FRESH_UUID, "asst-1", "c1", "a", "A_b-9", "x" * 64]
BAD = [
    "",
    ".",
    "..",
    "a.b",  # the REST client used to accept dots; storage did not
    "a" * 65,
    "-rf",
    "_x",
    "a/b",
    "a\\b",
    "a b",
    "abc\n",
    "a\x00",
    "é",
    "7420f27a-30fd-4f49-a995-5549ae7cc00d\n",
]


# A fixed name for the fresh uuid4: every pytest-xdist worker must collect the very same test ids.
@pytest.mark.parametrize("good", GOOD, ids=lambda good: "fresh-uuid4" if good == FRESH_UUID else None)
def test_real_and_test_ids_pass(good: str) -> None:
    assert is_valid_id(good)
    assert validate_id(good) == good
    assert validate_call_id(good) == good  # storage applies the very same rule


@pytest.mark.parametrize("bad", BAD)
def test_unsafe_ids_are_refused_everywhere(bad: str) -> None:
    assert not is_valid_id(bad)
    with pytest.raises(InvalidInput, match="invalid call id"):
        validate_id(bad)
    with pytest.raises(InvalidInput):
        validate_call_id(bad)


def test_a_vapi_uuid_always_passes_the_rule() -> None:
    for _ in range(200):
        value = str(uuid.uuid4())
        assert is_vapi_uuid(value) and is_valid_id(value)
    assert not is_vapi_uuid("asst-1")
    assert not is_vapi_uuid(123)


def test_the_schema_pattern_is_the_python_rule() -> None:
    """The face puts ID_PATTERN in its JSON schemas (a regex *search*): same answers as the Python check.

    (Values ending in a newline are left out: Python's ``$`` matches before one, JSON Schema's does not;
    the Python check uses fullmatch and refuses them.)
    """
    for value in [*GOOD, *BAD]:
        if not value.endswith("\n"):
            assert (re.search(ID_PATTERN, value) is not None) == is_valid_id(value), value
    assert re.search(VAPI_UUID_PATTERN, GOOD[0])
    assert ID_MAX_LENGTH == 64 and "64" in describe_id_rule()


def test_non_strings_and_long_values_make_short_safe_messages() -> None:
    with pytest.raises(InvalidInput, match="a int"):
        validate_id(123)
    with pytest.raises(InvalidInput) as info:
        validate_id("\r\n" + "x" * 500, what="assistant id")
    text = str(info.value)
    assert "assistant id" in text and "\n" not in text and len(text) < 250
