"""Fuzz the scrubber that guards everything ingested, over Vapi server messages (issue 8, defect 4).

The webhook intake is the next issue; what will guard it is :func:`vapi_mcp.redact.scrub`. Generated
messages have Vapi's shapes (reference/vapi-api.md §4: status-update, transcript, end-of-call-report,
conversation-update, tool-calls… each carrying the call object with its monitor URLs) with credentials and
capabilities planted in the places Vapi puts them and at random depths and keys. The scrubbed copy never
holds one, scrubbing never raises, the result is JSON, and what is not a secret is left as it was. It is
fast on any text: it runs on the event loop for every message.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import API_KEY
from tests.fuzz.leaks import Leaks
from tests.fuzz.live import HTTP_TOKEN
from tests.fuzz.profile import fuzz
from tests.fuzz.strategies import json_values, plant, unicode_text
from tests.fuzz.test_listen_frames import SECRET_KEYS, monitor_urls
from vapi_mcp.redact import REDACTED, install_redaction, redact, scrub

EXAMPLES = 150
_SECRET = st.builds("sec{}z".format, st.text("0123456789abcdef", min_size=10, max_size=14))
_TYPES = [
    "status-update",
    "transcript",
    'transcript[transcriptType="final"]',
    "end-of-call-report",
    "conversation-update",
    "speech-update",
    "tool-calls",
    "transfer-destination-request",
    "hang",
    "model-output",
]
# Text that can hold no credential and no URL, so the scrubber must leave it alone: no "b" (no bearer), no
# "-" (no registered key), no ":", "=", "?", "/" or "@". Hypothesis also draws constants from this
# repository's sources (such as test keys): the alphabet keeps them out.
_PLAIN = st.text(st.sampled_from("acdefghijklmnopqrstuvwxyzACXYZ0123456789 .,!é"), max_size=60)
_STATUSES = st.sampled_from(["queued", "ringing", "in-progress", "forwarding", "ended"])


@st.composite
def vapi_messages(draw: st.DrawFn) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """(a server message with secrets in it, the secrets, the plain fields it carries as {path: value})."""
    secrets: list[str] = []

    def secret() -> str:
        value = draw(_SECRET)
        secrets.append(value)
        return value

    listen, cap = draw(monitor_urls())
    control, cap2 = draw(monitor_urls())
    secrets += [cap, cap2]
    kind = draw(st.sampled_from(_TYPES))
    plain: dict[str, Any] = {
        "type": kind,
        "call.id": draw(st.uuids()).hex,
        "call.status": draw(_STATUSES),
        "call.customer.number": "+14155550123",
        "call.costBreakdown.llmPromptTokens": draw(st.integers(0, 10**6)),
        "call.assistant.model.maxTokens": draw(st.integers(1, 4096)),
        "call.assistant.server.url": "https://hook.example.com/vapi",
        "transcript": draw(_PLAIN),
    }
    call: dict[str, Any] = {
        "id": plain["call.id"],
        "orgId": "8c4c2f2e-0000-4000-8000-00000000e0e0",
        "type": draw(st.sampled_from(["outboundPhoneCall", "inboundPhoneCall", "webCall"])),
        "status": plain["call.status"],
        "monitor": {"listenUrl": listen, "controlUrl": control},
        "customer": {"number": plain["call.customer.number"]},
        "costBreakdown": {"llmPromptTokens": plain["call.costBreakdown.llmPromptTokens"], "llmCompletionTokens": 3},
        "assistant": {
            "server": {
                "url": plain["call.assistant.server.url"],
                "headers": {draw(st.sampled_from(["X-Custom-Auth", "x-api-key", "Cookie"])): secret()},
                "secret": secret(),
            },
            "credentials": [{"provider": "twilio", "authToken": secret(), "accountSid": "AC1"}],
            "model": {"maxTokens": plain["call.assistant.model.maxTokens"], "apiKey": secret()},
        },
        "artifact": {
            "recordingUrl": f"https://storage.vapi.ai/r.wav?X-Amz-Credential={secret()}&X-Amz-Signature={secret()}&X-Amz-Expires=60",
            "logUrl": f"https://user:{secret()}@logs.example.com/call.log",
        },
        "transport": {"websocketCallUrl": f"wss://example.com/ws?token={secret()}"},
    }
    message: dict[str, Any] = {"type": kind, "call": call, "timestamp": draw(st.integers(0, 2**42))}
    if kind.startswith("transcript"):
        message |= {"role": draw(st.sampled_from(["user", "assistant"])), "transcriptType": "final"}
        message["transcript"] = plain["transcript"]
    elif kind == "status-update":
        message |= {"status": plain["call.status"], "endedReason": draw(st.sampled_from(["customer-ended-call", None]))}
    elif kind == "end-of-call-report":
        message |= {
            "endedReason": "customer-ended-call",
            "cost": draw(st.floats(0, 100)),
            "analysis": {"summary": plain["transcript"]},
            "artifact": {"transcript": plain["transcript"], "recordingUrl": f"https://r.example/x.wav?sig={secret()}"},
        }
    elif kind == "tool-calls":
        message["toolCallList"] = [{"id": "tc1", "name": "lookup", "parameters": {"token": secret(), "q": "x"}}]
    elif kind == "conversation-update":
        said = f"my link is {listen} and Authorization: Bearer {secret()}"
        message["messages"] = [{"role": "user", "message": said}, {"role": "bot", "message": plain["transcript"]}]
    envelope: dict[str, Any] = {"message": message}
    if kind != "conversation-update":  # its messages would change the transcript path's meaning; keep it apart
        envelope["message"]["transcript"] = plain["transcript"]
    planted = [listen, control, API_KEY, HTTP_TOKEN, f"Bearer {secret()}", f"?token={secret()}"]
    for _ in range(draw(st.integers(0, 3))):
        envelope = draw(plant(envelope, planted, SECRET_KEYS))
    return envelope, secrets, plain


def _at(value: Any, path: str) -> Any:
    """The value at a dotted path, or ``None`` where planting turned a step into something else."""
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def test_scrubbed_messages_hold_no_secret_and_keep_the_rest() -> None:
    install_redaction([API_KEY, HTTP_TOKEN])  # as the server does at start-up (process-wide)
    leaks = Leaks([API_KEY, HTTP_TOKEN])

    @fuzz(EXAMPLES)
    @given(generated=vapi_messages())
    def one(generated: tuple[dict[str, Any], list[str], dict[str, Any]]) -> None:
        envelope, secrets, plain = generated
        before = copy.deepcopy(envelope)
        out = scrub(envelope)
        assert envelope == before, "scrub() changed its input"
        text = json.dumps(out, allow_nan=False)
        Leaks([*leaks.literals, *secrets]).check(text, "the scrubbed message")
        assert isinstance(out, dict)
        message = out["message"]
        monitor = message["call"]["monitor"]
        assert monitor["listenUrl"] == monitor["controlUrl"] == REDACTED
        for path, value in plain.items():  # unless planting replaced it, every plain field is kept as it was
            if _at(envelope["message"], path) == value:
                assert _at(message, path) == value, f"{path} changed"
        assert scrub(out) == out, "not idempotent"

    one()


@given(value=json_values)
@fuzz(EXAMPLES)
def test_plain_messages_come_out_unchanged(value: object) -> None:
    """A message with no secret in it (keys and text that name no credential, no URL) is left as it was."""
    message = {"message": {"type": "status-update", "status": "ended", "payload": _plain(value)}}
    assert scrub(message) == message


def _plain(value: object) -> object:
    """``value`` with its text made plain (digits and letters but "b", see _PLAIN) and its keys numbered."""
    if isinstance(value, str):
        return "".join(ch if ch.isascii() and ch.isalnum() and ch not in "bB" else "_" for ch in value)
    if isinstance(value, dict):
        return {f"f{index}": _plain(v) for index, v in enumerate(value.values())}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# Text patterns the scrubber's expressions look for, repeated: any backtracking worse than linear shows.
_UNITS = st.one_of(
    st.sampled_from(
        ["a.", "a-", "a+", "/a", "a/", "?a", "&a", "?token", "token", "1", "http://", "ws://a/", "a://", "//"]
    ),
    st.sampled_from(["apikey ", 'token="', "authorization: ", "Bearer ", "/listen", "wss://h/", "%2", "a@", "key:"]),
    unicode_text.filter(bool),
)


@fuzz(20)
@given(units=st.lists(_UNITS, min_size=1, max_size=3), where=st.sampled_from(["value", "key", "log"]))
def test_scrubbing_is_fast_on_any_text(units: list[str], where: str) -> None:
    """8 KB of any repeated pattern scrubs in a few milliseconds (up to half a minute before issue 8's fix,
    and minutes at the 64 KB a stored message may have; see test_regressions.py)."""
    unit = "".join(units)
    text = unit * (8_000 // len(unit) + 1)
    started = time.thread_time()  # this thread's CPU: other processes (xdist workers) loading the machine do not count
    if where == "log":
        redact(text)
    else:
        scrub({text: 1} if where == "key" else {"note": text})
    assert time.thread_time() - started < 0.25, f"{len(text)} characters of {unit[:20]!r}…"
