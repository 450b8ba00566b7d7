"""What must never appear in anything the server says, stores or logs: a credential or a monitor capability."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["MONITOR_URL", "Leaks", "as_text"]

# A monitor URL in any form: Vapi's and the emulator's listen/control/transport endpoints.
MONITOR_URL = re.compile(r"(?:wss?|https?)://[^\s\"'<>\\]*/(?:listen|control|transport)\b", re.IGNORECASE)


def as_text(value: object) -> str:
    """Anything as one searchable string (JSON for structures, ``repr`` for what JSON refuses)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except ValueError:  # a lone surrogate survives ensure_ascii=False; escaped it is still searchable
        return json.dumps(value, default=repr)


class Leaks:
    """The literal secrets of one test (keys, tokens, capability tokens) and the monitor-URL shape."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        self.literals: set[str] = {s for s in literals if s}

    def add(self, *literals: str) -> None:
        self.literals.update(s for s in literals if s)

    def found(self, value: object) -> list[str]:
        """What leaked into ``value`` (shown shortened), or ``[]``."""
        text = as_text(value)
        hits = [f"secret {s[:6]}…" for s in sorted(self.literals) if s in text]
        hits += [f"monitor URL {m.group(0)[:60]!r}" for m in MONITOR_URL.finditer(text)]
        return hits

    def check(self, value: object, where: str) -> None:
        hits = self.found(value)
        assert not hits, f"{where} leaks {hits}"

    def check_files(self, root: Path) -> None:
        """Every stored file that is text (journals, state): no secret, no monitor URL."""
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".wav"):
            self.check(path.read_bytes().decode("utf-8", "replace"), f"stored file {path.relative_to(root)}")
