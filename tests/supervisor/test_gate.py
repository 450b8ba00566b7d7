"""Which transcripts reach the log: finals once across sources, webhook partials coalesced."""

from __future__ import annotations

from vapi_mcp.supervisor.gate import TranscriptGate


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_final_line_is_logged_once_whichever_source_brings_it() -> None:
    gate = TranscriptGate()
    assert gate.accept_listen("customer", "Just checking my balance.", True)
    assert not gate.accept("customer", "just  checking my balance.", True, "webhook")
    assert gate.accept("assistant", "Just checking my balance.", True, "webhook")  # another role
    assert gate.accept("customer", "Thanks", True, "webhook")
    assert not gate.accept_listen("customer", "Thanks", True)
    assert gate.duplicates == 2


def test_the_memory_is_bounded() -> None:
    gate = TranscriptGate(memory=2)
    for text in ("one", "two", "three"):
        assert gate.accept("customer", text, True)
    assert gate.accept("customer", "one", True)  # forgotten: a repeated phrase later in a long call is logged


def test_webhook_partials_are_coalesced() -> None:
    clock = Clock()
    gate = TranscriptGate(partial_interval_s=1.0, clock=clock)
    assert gate.accept("customer", "Just", False)
    clock.now = 0.3
    assert not gate.accept("customer", "Just checking", False)
    assert gate.accept("assistant", "Hello", False)  # each role on its own
    clock.now = 1.2
    assert gate.accept("customer", "Just checking my", False)
    assert not gate.accept("customer", "Just checking my", False)
    assert gate.accept_listen("customer", "Just checking my balance", False)  # the socket's are not throttled
    assert gate.accept("customer", "Just checking my balance.", True)
    assert gate.accept("customer", "Next", False)  # a final line re-opens the role
