"""Hypothesis settings for the fuzz tests: fast, deterministic in CI, never writing an example database.

Profiles are registered, not loaded: loading one is process-wide and would change every other hypothesis
test in the run. Each fuzz test takes :func:`fuzz` with its own example count. ``VAPI_MCP_FUZZ_SCALE=20``
multiplies the counts for a long local run (``CI`` set: derandomized, so a CI failure reproduces).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["fuzz"]

_COMMON = {
    "deadline": None,  # one example may wait on the emulator; time is bounded by anyio.fail_after instead
    "database": None,  # no .hypothesis folder in the tree
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,  # a failure prints @reproduce_failure, whatever the profile
}
settings.register_profile("vapi-mcp-fuzz-ci", derandomize=True, **_COMMON)
settings.register_profile("vapi-mcp-fuzz-dev", **_COMMON)

_SCALE = float(os.environ.get("VAPI_MCP_FUZZ_SCALE", "1"))


def fuzz(max_examples: int) -> settings:
    """The fuzz profile (``-ci`` when ``CI`` is set) with ``max_examples`` scaled by ``VAPI_MCP_FUZZ_SCALE``."""
    parent = settings.get_profile("vapi-mcp-fuzz-ci" if os.environ.get("CI") else "vapi-mcp-fuzz-dev")
    return settings(parent, max_examples=max(1, round(max_examples * _SCALE)))
