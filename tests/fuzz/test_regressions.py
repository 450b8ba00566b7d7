"""What the fuzzing found, each as the smallest reproduction (issue 8): all failed before their fix.

1. A listen message's ``type`` was stored unscrubbed: ``{"type": "<listenUrl>"}`` put the capability in the
   event's data (``get_call_events``, the events resource, the journal).
2. Transcript text was stored unscrubbed: a transcript holding a monitor URL or the API key reached the event
   log and the transcript resource.
3. The scrubber backtracked quadratically or worse on remote text: 64 KB of digits (``_KEY_VALUE``), of
   ``?token`` (``_QUERY_SECRET``, cubic), of ``/a`` (``_MONITOR_URL``, also behind every log record) or of
   ``a.`` (``_URL_USERINFO``) took from seconds to minutes, on the event loop, for one listen frame.

4. A lone surrogate inside a transient ``assistant`` (create_call, handoff_call) crashes the tool: the
   request body cannot be encoded (``UnicodeEncodeError`` in httpx), the agent reads only "Error executing
   tool create_call" and the server logs a traceback. Over stdio and HTTP the SDK's JSON parser refuses the
   escape first, so only an in-process client (the SDK's ``Client(server)``, an embedding app) reaches it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import API_KEY
from tests.fuzz.live import SERVER_THREAD_USES_RANDOM, live_server
from tests.helpers import CUSTOMER, text_of
from vapi_mcp.listen.events import EventLog
from vapi_mcp.listen.frames import MessageFrame, TranscriptFrame, parse_text_frame
from vapi_mcp.listen.pipeline import AudioPipeline
from vapi_mcp.redact import REDACTED, install_redaction, redact, scrub

LISTEN = "ws://127.0.0.1:40123/capZ9q8w7e6r5t4y3/c1/listen"


@pytest.fixture(autouse=True)
def _key_registered() -> None:
    install_redaction([API_KEY])  # as the server does at start-up


def test_a_message_type_is_scrubbed_before_it_is_stored(tmp_path: Path) -> None:
    frame = parse_text_frame(json.dumps({"type": LISTEN}))
    assert isinstance(frame, MessageFrame) and frame.type == REDACTED
    pipeline = AudioPipeline("c1", EventLog("c1", journal=tmp_path / "e.jsonl"), recording_path=None)
    pipeline.feed(json.dumps({"type": f"x {API_KEY}"}))
    pipeline.log.close()
    stored = (tmp_path / "e.jsonl").read_text()
    assert API_KEY not in stored and "capZ9q8w7e6r5t4y3" not in stored


@pytest.mark.parametrize("said", [f"call me at {LISTEN} now", f"the key is {API_KEY}"])
def test_transcript_text_is_scrubbed_before_it_is_stored(said: str) -> None:
    frame = parse_text_frame(json.dumps({"type": "transcript", "role": "user", "transcript": said}))
    assert isinstance(frame, TranscriptFrame)
    assert "capZ9q8w7e6r5t4y3" not in frame.text and API_KEY not in frame.text and REDACTED in frame.text


def test_a_long_transcript_is_scrubbed_before_it_is_cut() -> None:
    """A URL across the 64K cut: cutting first would leave its capability, without the /listen that marks it."""
    said = "x " * 32_748 + LISTEN  # the cut at 65,536 characters falls between the capability and /listen
    assert said.index("capZ9q8") + 17 < 65_536 < said.index("/listen")
    frame = parse_text_frame(json.dumps({"type": "transcript", "role": "user", "transcript": said}))
    assert isinstance(frame, TranscriptFrame) and "capZ9q8" not in frame.text


@pytest.mark.parametrize(
    ("unit", "size"),
    [("1", 16_000), ("a-", 16_000), ("?token", 4_000), ("?a", 8_000), ("/a", 16_000), ("a.", 64_000)],
)
def test_scrubbing_remote_text_is_linear(unit: str, size: int) -> None:
    """Each took seconds at these sizes before the fix (and minutes at 64 KB); now a few milliseconds.

    The CPU time of this thread, not the wall clock: other processes loading the machine do not count."""
    text = unit * (size // len(unit))
    started = time.thread_time()
    scrub({"note": text, text: 1})
    redact(text)
    assert time.thread_time() - started < 0.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("?x=1?token=2", f"?x=1?token={REDACTED}"),
        ("?a?token=x&b=1", f"?a?token={REDACTED}&b=1"),
        ("?token?x=secret", f"?token?x={REDACTED}"),  # the name is everything after the ? or &
        ("r.wav?X-Amz-Signature=s1&X-Amz-Expires=60", f"r.wav?X-Amz-Signature={REDACTED}&X-Amz-Expires=60"),
        ("?token=&code=", "?token=&code="),
    ],
)
def test_query_credentials_are_redacted_as_before(text: str, expected: str) -> None:
    assert scrub(text) == expected


@SERVER_THREAD_USES_RANDOM
def test_a_lone_surrogate_in_a_transient_assistant_is_a_clear_error(tmp_path: Path) -> None:
    with live_server(tmp_path, live_calls=1) as live:
        for tool, args in [
            ("create_call", {"customer_number": CUSTOMER, "assistant": {"name": "\ud800"}}),
            ("handoff_call", {"call_id": live.calls[0], "assistant": {"firstMessage": "\udfff"}}),
        ]:
            outcome = live.call(tool, args)
            assert not isinstance(outcome, Exception)
            assert outcome.is_error and text_of(outcome) != f"Error executing tool {tool}", text_of(outcome)
