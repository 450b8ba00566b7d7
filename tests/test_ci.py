"""CI runs the README's test command: the two must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pytest_commands(text: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^\s*(python -m pytest\b[^#|\n]*)", text, re.MULTILINE)]


def test_ci_runs_the_readme_test_command() -> None:
    readme = _pytest_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    ci = _pytest_commands((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert readme, "the README gives a test command"
    assert ci == [readme[0]], f".ci/run runs {ci}, the README says {readme[0]!r}"
    assert set(readme) == {readme[0]}, f"the README gives one test command, not {sorted(set(readme))}"
