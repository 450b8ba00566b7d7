"""Redaction: every secret whatever its length (issue 8, defect 11), and :func:`scrub` for stored data (defect 4)."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vapi_mcp import redact as redaction
from vapi_mcp.redact import REDACTED, install_redaction, redact, scrub

LISTEN = "wss://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/7420f27a/listen"
CONTROL = "https://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/7420f27a/control"


@pytest.fixture
def isolated_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Secrets registered in a test stay in that test (the registry is process-wide)."""
    monkeypatch.setattr(redaction, "_secrets", set(redaction._secrets))  # pyright: ignore[reportPrivateUsage]
    monkeypatch.setattr(redaction, "_secret_rx", redaction._secret_rx)  # pyright: ignore[reportPrivateUsage]
    yield


# ------------------------------------------------------------------ defect 11: short secrets


def test_a_short_secret_is_redacted_from_logs(isolated_secrets: None, caplog: pytest.LogCaptureFixture) -> None:
    install_redaction(["k3y"])  # under 6 characters: used to be skipped, so it was printed in clear
    with caplog.at_level(logging.INFO):
        logging.getLogger("test.redact").info("key is %s", "k3y")
    assert "k3y" not in caplog.text and REDACTED in caplog.text


def test_even_one_character_is_redacted_and_redactions_stay_whole(isolated_secrets: None) -> None:
    """A 1-character secret garbles the line, but never leaks, and never breaks an earlier [redacted]."""
    install_redaction(["a", "longer-secret-value-0123"])
    text = redact("a key longer-secret-value-0123 and a monitor " + LISTEN)
    assert "a" not in text.replace(REDACTED, "") and "longer-secret" not in text and "/listen" not in text
    assert redact(text) == text


def test_a_secret_inside_another_is_replaced_whole(isolated_secrets: None) -> None:
    install_redaction(["abc123", "xxabc123yy"])
    assert redact("xxabc123yy") == REDACTED


def test_empty_secrets_are_ignored(isolated_secrets: None) -> None:
    install_redaction([""])
    assert redact("plain text") == "plain text"


# ------------------------------------------------------------------ scrub: what Vapi's messages carry

STATUS_UPDATE: dict[str, Any] = {
    "type": "status-update",
    "status": "in-progress",
    "call": {
        "id": "7420f27a-30fd-4f49-a995-5549ae7cc00d",
        "monitor": {"listenUrl": LISTEN, "controlUrl": CONTROL},
        "costBreakdown": {"llmPromptTokens": 120, "llmCompletionTokens": 30},
        "assistant": {
            "server": {
                "url": "https://hook.example.com/vapi",
                "headers": {"X-Custom-Auth": "hdr-value-1"},
                "secret": "legacy-secret-1",
            },
            "credentials": [{"provider": "twilio", "authToken": "twilio-token-1", "accountSid": "AC1"}],
            "model": {"maxTokens": 250, "apiKey": "sk-model-1"},
        },
        "artifact": {
            "recordingUrl": "https://storage.vapi.ai/r.wav?X-Amz-Credential=AKIA1&X-Amz-Signature=sig-1&X-Amz-Expires=60",
            "logUrl": "https://user:pass-1@logs.example.com/call.log",
        },
        "transport": {"websocketCallUrl": "wss://example/ws?token=ws-token-1"},
    },
    "x-signature": "hmac-1",
    "note": 'embedded {"apiKey": "embedded-1"} and Authorization: Bearer bearer-token-1',
}
LEAKS = [
    LISTEN,
    CONTROL,
    "hdr-value-1",
    "legacy-secret-1",
    "twilio-token-1",
    "sk-model-1",
    "AKIA1",
    "sig-1",
    "pass-1",
    "ws-token-1",
    "hmac-1",
    "embedded-1",
    "bearer-token-1",
]


def test_scrub_removes_monitor_urls_and_credentials_and_keeps_the_rest() -> None:
    original = copy.deepcopy(STATUS_UPDATE)
    out = scrub(STATUS_UPDATE)
    assert STATUS_UPDATE == original  # never mutates
    text = json.dumps(out)
    for leak in LEAKS:
        assert leak not in text, leak
    assert isinstance(out, dict)
    call: dict[str, Any] = cast(dict[str, Any], out)["call"]
    assert call["id"] == STATUS_UPDATE["call"]["id"] and out["status"] == "in-progress"
    assert call["monitor"] == {"listenUrl": REDACTED, "controlUrl": REDACTED}
    assert call["costBreakdown"] == {"llmPromptTokens": 120, "llmCompletionTokens": 30}  # counts, not tokens
    assert call["assistant"]["model"]["maxTokens"] == 250
    assert call["assistant"]["server"]["url"] == "https://hook.example.com/vapi"
    assert call["assistant"]["server"]["headers"] == {"X-Custom-Auth": REDACTED}
    assert "X-Amz-Expires=60" in call["artifact"]["recordingUrl"]


def test_scrub_shapes_non_json_and_deep_values() -> None:
    class Opaque:
        def __str__(self) -> str:
            return LISTEN

    value = {"t": (1, 2.5, True, None), "s": {3}, "b": b"bytes", "o": Opaque(), 7: "int key"}
    assert scrub(value) == {"t": [1, 2.5, True, None], "s": [3], "b": "[bytes]", "o": "[Opaque]", "7": "int key"}
    deep: object = "leaf"
    for _ in range(100):
        deep = [deep]
    out = scrub(deep, max_depth=5)
    assert json.dumps(out) == '[[[[["[truncated: nested too deep]"]]]]]'
    assert scrub({"token": None}) == {"token": None}


def test_ordinary_speech_is_left_alone() -> None:
    said = "I have a basic question about my token balance, and the password reset did not arrive."
    assert scrub(said) == said
    assert scrub({"transcript": said, "role": "user"}) == {"transcript": said, "role": "user"}


# ------------------------------------------------------------------ properties (hypothesis)

SECRET_KEYS = ["listenUrl", "controlUrl", "apiKey", "api_key", "authToken", "password", "secret", "credentials"]
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10) | st.sampled_from(SECRET_KEYS), children, max_size=4)
    ),
    max_leaves=40,
)
planted = st.sampled_from(
    [LISTEN, CONTROL, "?token=tok-zz-1", "https://u:pw-zz-1@h.example/x", "Bearer bearer-zz-1", '"apiKey": "ak-zz-1"']
)


@settings(max_examples=150, deadline=None, database=None)  # no .hypothesis folder in the tree
@given(value=json_values)
def test_scrub_never_mutates_is_idempotent_and_stays_json(value: object) -> None:
    before = json.dumps(value, sort_keys=True)
    out = scrub(value)
    assert json.dumps(value, sort_keys=True) == before
    assert scrub(out) == out
    json.dumps(out)


@settings(max_examples=150, deadline=None, database=None)  # no .hypothesis folder in the tree
@given(value=json_values, secret=planted, where=st.sampled_from(["value", "key", "text"]))
def test_a_planted_capability_never_survives(value: object, secret: str, where: str) -> None:
    host: dict[str, object] = {"payload": value}
    if where == "value":
        host["field"] = secret
    elif where == "key":
        host[secret] = 1
    else:
        host["note"] = f"see {secret} now"
    text = json.dumps(scrub(host))
    for needle in ("/listen", "/control", "zz-1"):
        assert needle not in text


@settings(max_examples=100, deadline=None, database=None)  # no .hypothesis folder in the tree
@given(value=json_values, key=st.sampled_from(SECRET_KEYS), inner=json_values)
def test_a_credential_key_never_keeps_its_value(value: object, key: str, inner: object) -> None:
    out = scrub({"payload": value, key: inner})
    assert isinstance(out, dict)
    assert out[key] == (None if inner is None else REDACTED)
