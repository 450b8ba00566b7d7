"""Where state lives: the local data dir today (a Redis-backed store implements the same seam next)."""
