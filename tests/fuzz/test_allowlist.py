"""Fuzz the transfer allowlist through the real server (issue 8, defect 3): a destination outside it, or one
that cannot be checked, never reaches the emulator, however deep it hides in a transient assistant, and the
refusal names the rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.live import SERVER_THREAD_USES_RANDOM, live_server
from tests.fuzz.profile import fuzz
from tests.fuzz.strategies import ALLOWED, FORBIDDEN, hidden_destinations, passes_allowlist
from tests.helpers import CUSTOMER, text_of

pytestmark = SERVER_THREAD_USES_RANDOM

EXAMPLES = 40


def test_no_destination_outside_the_allowlist_reaches_vapi(tmp_path: Path) -> None:
    with live_server(tmp_path, live_calls=2) as live:
        calls = st.sampled_from(live.calls)
        requests = st.one_of(
            st.tuples(
                st.just("create_call"),
                st.builds(lambda a: {"customer_number": CUSTOMER, "listen": False, "assistant": a}, st.just(None)),
            ),
            st.tuples(st.just("handoff_call"), st.builds(lambda c: {"call_id": c}, calls)),
        )

        @fuzz(EXAMPLES)
        @given(request=requests, hidden=hidden_destinations())
        def one(request: tuple[str, dict[str, Any]], hidden: tuple[dict[str, Any], list[str]]) -> None:
            tool, args = request
            assistant, planted = hidden
            outcome = live.check(tool, {**args, "assistant": assistant})
            if any(not passes_allowlist(value) for value in planted):
                assert not isinstance(outcome, Exception) and outcome.is_error, f"{tool} accepted {planted}"
                text = text_of(outcome)
                assert "assistant" in text and any(
                    w in text for w in ("ALLOWLIST", "E.164", "SIP URI", "destination")
                ), text

        one()

        @fuzz(EXAMPLES)
        @given(call_id=calls, destination=st.sampled_from([*ALLOWED, *FORBIDDEN]))
        def transfer(call_id: str, destination: str) -> None:
            outcome = live.check("transfer_call", {"call_id": call_id, "destination": destination})
            if not passes_allowlist(destination):
                assert not isinstance(outcome, Exception) and outcome.is_error
                text = text_of(outcome)
                assert any(w in text for w in ("ALLOWLIST", "neither an E.164", "has ended")), text

        transfer()
