"""Scrub secrets and monitor URLs: from every log record in the process, and from data before it is stored.

Monitor URLs (``listenUrl``/``controlUrl``) are bearer capabilities: whoever has one can listen to or steer a
live call. We never log them on purpose; :func:`install_redaction` is the safety net for third-party loggers
(httpx2, uvicorn, websockets) that print URLs on their own. It works at record creation, so it holds
whatever handlers are added later.

Every registered secret is redacted, whatever its length (issue 8, defect 11: secrets under 6 characters
used to be skipped). A very short secret turns every occurrence of its letters into ``[redacted]`` and
garbles the logs, but garbled logs are a nuisance and a leaked key is not; the settings refuse keys under 16
characters and HTTP tokens under 32, so in practice only real keys are ever registered.

:func:`scrub` is for data: Vapi's messages carry the whole ``call`` object (its ``monitor`` URLs included)
and may carry credentials; anything ingested — listen-socket frames, webhooks — goes through it before it
reaches an event log, a journal or a tool result (issue 8, defect 4).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

__all__ = ["REDACTED", "install_redaction", "redact", "scrub"]

REDACTED: Final = "[redacted]"
# Any URL whose path ends in /listen, /control or /transport (Vapi's monitor endpoints, and the
# emulator's), plus query strings that may carry tokens. Every pattern here runs on remote text on the
# event loop, so none may backtrack more than linearly (issue 8: an unbounded ``[^\s]+`` before the path
# made 60 KB of ``/a/a/a…`` take minutes). So a URL is matched segment by segment, at most 9 before the
# endpoint: each character is then tried from a bounded number of starts, and a URL with more segments
# still loses its capability, which sits in the last ones.
_MONITOR_URL = re.compile(
    r"(?:\b(?:wss?|https?)://[^\s\"'<>/]+(?:/[^\s\"'<>/]*){0,8}|/[A-Za-z0-9._~%-]+(?:/[A-Za-z0-9._~%-]+){0,8})"
    r"/(?:listen|control|transport)\b[^\s\"'<>]*",
    re.IGNORECASE,
)
_lock = threading.Lock()
_secrets: set[str] = set()
_secret_rx: re.Pattern[str] | None = None
_installed = False


def _compile_secrets(secrets: set[str]) -> re.Pattern[str] | None:
    """One alternation, longest first (a secret containing another is replaced whole), and the marker
    itself first of all, so a short secret that occurs in ``[redacted]`` does not eat earlier redactions."""
    if not secrets:
        return None
    ordered = sorted(secrets, key=lambda s: (-len(s), s))
    return re.compile("|".join([re.escape(REDACTED), *map(re.escape, ordered)]))


def _replace_secret(match: re.Match[str]) -> str:
    return REDACTED


def _redact_secrets(text: str) -> str:
    secret_rx = _secret_rx
    return secret_rx.sub(_replace_secret, text) if secret_rx is not None else text


def redact(text: str) -> str:
    """``text`` with monitor URLs and every registered secret replaced by ``[redacted]``."""
    return _redact_secrets(_MONITOR_URL.sub(REDACTED, text))


def install_redaction(secrets: list[str] | tuple[str, ...] = ()) -> None:
    """Register secrets to scrub (every non-empty one) and (once per process) hook the log record factory."""
    global _installed, _secret_rx
    with _lock:
        added = {s for s in secrets if s} - _secrets
        if added:
            _secrets.update(added)
            _secret_rx = _compile_secrets(_secrets)
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a broken format string is the logger's problem, not ours
                return record
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None and redact(str(exc)) != str(exc):
                # The traceback would print the secret: keep the type, drop the text.
                record.exc_info = None
                record.msg, record.args = f"{record.getMessage()} [{type(exc).__name__}: details withheld]", None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


# ---------------------------------------------------------------------------------------------- data

SCRUB_MAX_DEPTH: Final = 32
TRUNCATED: Final = "[truncated: nested too deep]"

# Keys whose whole value is a credential or a capability, compared without case, '_', '-' or '.'.
_SECRET_KEYS = frozenset({"listenurl", "controlurl", "monitorurl", "auth", "bearer", "cookie", "setcookie"})
# ... and keys ending so: apiKey, authToken, clientSecret, x-vapi-secret, privateKey, credentials, password,
# x-signature (a webhook signature can be replayed within its window). "tokens" does not end in "token":
# llmPromptTokens and maxTokens are counts and stay.
_SECRET_SUFFIXES = (
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "apikey",
    "privatekey",
    "publickey",
    "secretkey",
    "accesskey",
    "signingkey",
    "signature",
    "credential",
    "credentials",
    "authorization",
)
# Every value of these objects is redacted (a webhook's custom headers usually carry its secret).
_SECRET_CONTAINERS = frozenset({"headers"})

# In free text: a credential in a URL's user info or query, an Authorization header's value, a bearer
# token, or an "apiKey": "…" pair (JSON or a query string embedded in a string).
_URL_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,31}://)[^\s/?#@\"'<>]+@")  # a scheme is short
# A query parameter's name (matched whole, so a failed name is never rescanned from inside), and its value.
_QUERY_NAME = re.compile(r"[?&][^=&#\s\"'<>]*")
_QUERY_SECRET_NAME = re.compile(r"sig|signature|token|key|secret|pass|auth|cred|session|code", re.IGNORECASE)
_QUERY_VALUE = re.compile(r"[^&#\s\"'<>]+")
_AUTH_HEADER = re.compile(
    r"""\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?!\[redacted\])(?:[A-Za-z]+\s+)?[A-Za-z0-9._~+/=:-]+""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b([Bb]earer)\s+[A-Za-z0-9._~+/=-]{8,}")
_KEY_VALUE = re.compile(  # the name starts a word: tried once per word, not once per letter
    r"""((?<![\w-])[\w-]*(?:api[_-]?key|secret|token|password|passwd|credentials?|signature)["']?\s*[:=]\s*)"""
    r"""(\[redacted\]|"[^"]*"|'[^']*'|[^\s,;&}\]"']+)""",
    re.IGNORECASE,
)


def _keep_quotes(match: re.Match[str]) -> str:
    value = match.group(2)
    if value == REDACTED:
        return match.group(0)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{quote}{REDACTED}{quote}"


def _redact_query(text: str) -> str:
    """``?token=…``, ``&X-Amz-Signature=…``: the value of every query parameter whose name says credential."""
    if "=" not in text:
        return text
    out: list[str] = []
    done = at = 0
    while (name := _QUERY_NAME.search(text, at)) is not None:
        at = name.end()
        if text.startswith("=", at) and _QUERY_SECRET_NAME.search(name.group()):
            value = _QUERY_VALUE.match(text, at + 1)
            if value is not None:
                out += (text[done : at + 1], REDACTED)
                done = at = value.end()
    out.append(text[done:])
    return "".join(out)


def _scrub_text(text: str) -> str:
    # Registered secrets last: a short one could otherwise break the words the other patterns look for.
    text = _MONITOR_URL.sub(REDACTED, text)
    text = _URL_USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _redact_query(text)
    text = _AUTH_HEADER.sub(rf"\1{REDACTED}", text)
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    return _redact_secrets(_KEY_VALUE.sub(_keep_quotes, text))


def _secret_key(key: str) -> bool:
    name = key.replace("_", "").replace("-", "").replace(".", "").lower()
    return name in _SECRET_KEYS or name.endswith(_SECRET_SUFFIXES)


def _scrub(value: object, depth: int, max_depth: int) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _scrub_text(value)
    if depth >= max_depth:
        return TRUNCATED
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in cast(Mapping[object, object], value).items():
            name = _scrub_text(str(key))  # what is written; the rules read the key as it came
            if _secret_key(str(key)):
                out[name] = None if item is None else REDACTED
            elif str(key).lower() in _SECRET_CONTAINERS and isinstance(item, Mapping):
                out[name] = {_scrub_text(str(k)): REDACTED for k in cast(Mapping[object, object], item)}
            else:
                out[name] = _scrub(item, depth + 1, max_depth)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item, depth + 1, max_depth) for item in cast(Iterable[object], value)]
    return f"[{type(value).__name__}]"  # not JSON: never str() it, that text could hold anything


def scrub(value: object, *, max_depth: int = SCRUB_MAX_DEPTH) -> object:
    """A scrubbed copy of a JSON-like value, safe to store, log or return to an agent; ``value`` is untouched.

    - keys that name a credential or capability keep their place, with ``"[redacted]"`` as value (``None``
      stays ``None``): the monitor's ``listenUrl``/``controlUrl``, and any key ending in ``token``,
      ``secret``, ``password``, ``apiKey``, ``privateKey``, ``signature``, ``credential(s)``,
      ``authorization`` … (case, ``_``, ``-`` ignored; ``…Tokens`` counts are kept); every value of a
      ``headers`` object is redacted;
    - every string (keys included) loses monitor URLs, registered secrets (:func:`install_redaction`),
      credentials in a URL's user info or query (``?token=``, ``X-Amz-Signature=``, ``sig=``…), an
      ``Authorization:`` value, a ``Bearer`` token, and ``"apiKey": "…"``-style pairs in embedded text;
    - mappings become dicts with string keys, lists, tuples and sets become lists, numbers, booleans and
      ``None`` stay; anything else becomes ``"[<type name>]"`` (never its ``str()``);
    - containers nested deeper than ``max_depth`` become ``"[truncated: nested too deep]"``, so a hostile
      frame cannot make the scrubber (or whoever stores the result) recurse without bound.

    Idempotent: scrubbing a scrubbed value changes nothing.
    """
    return _scrub(value, 0, max_depth)
