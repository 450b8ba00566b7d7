"""The background side of vapi-mcp: listen sessions, listen-frame parsing, audio analysis, event log, recording."""
