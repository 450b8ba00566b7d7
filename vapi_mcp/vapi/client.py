"""``VapiClient``: Vapi's REST API and the per-call control endpoint over one pooled httpx2 client.

Two hosts, two credentials. REST (``/call``) lives at ``base_url`` and takes the *private* key.
Each call's control endpoint lives at ``call.monitor.controlUrl``, on a host that varies per call
(reference §1.1); it takes the *public* key when ``monitorPlan.controlAuthenticationEnabled`` is on,
and nothing otherwise. The private key is therefore set per REST request, never on the shared
client, so it cannot follow a request to the control host: it is an account-wide credential and
the control host has no use for it.

Retries are bounded (``max_retries``, and at most ``max_retry_wait_s`` of sleeping per request) and
depend on whether repeating the request is safe:

============  ================================================  ==========================================
request       retried on                                        otherwise
============  ================================================  ==========================================
GET           429, 502/503/504, connect errors, timeouts,       VapiApiError / VapiTimeout / VapiUnreachable
              dropped connections
POST /call    429; errors raised before the request left        5xx → VapiApiError; read timeout etc. →
              (ConnectError, ConnectTimeout, PoolTimeout)       DeliveryUnknown (a call may exist)
control POST  same as POST /call                                non-2xx → ControlRejected; read timeout etc.
                                                                → DeliveryUnknown (never said twice)
============  ================================================  ==========================================

Secrets: no message, repr or log line made here contains a key or a monitor URL. httpx2 exceptions
carry the request (and so the URL); they are mapped by type and never stringified. httpx2 itself logs
every request URL at INFO, so a logging filter withholds the URL of control requests.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import anyio
import httpx2
from pydantic import SecretStr, ValidationError
from pydantic.alias_generators import to_camel

from vapi_mcp import errors
from vapi_mcp.vapi.models import Call, ControlMessage, CreateCallRequest, to_wire

__all__ = ["VapiClient"]

log = logging.getLogger(__name__)

_LIMITS = httpx2.Limits(max_connections=50, max_keepalive_connections=10, keepalive_expiry=30.0)
_BACKOFF_BASE_S = 0.5
_BACKOFF_CAP_S = 8.0
_MAX_TEXT = 300  # non-JSON error bodies (HTML error pages, proxies)
_MAX_MESSAGE = 1000  # Vapi's own JSON messages (validation lists can be long)
_CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_LIST_FILTERS = frozenset(
    {"id", "assistantId", "phoneNumberId"}
    | {f"{field}At{op}" for field in ("created", "updated") for op in ("Gt", "Lt", "Ge", "Le")}
)
_MONITOR_URL = re.compile(r"\b(?:wss?|https?)://\S+/(?:listen|control|transport)\b\S*", re.IGNORECASE)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")
_HTML_TAG = re.compile(r"<[^>]{0,500}>")

# Raised before any byte of the request left this process: always safe to retry.
_NOT_SENT: tuple[type[Exception], ...] = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
_CREATE_UNKNOWN_HINT = (
    "The call may or may not have been created; it was not retried, so no second call was placed. "
    "Check list_calls before creating it again."
)


@dataclass(frozen=True, slots=True)
class _Policy:
    idempotent: bool
    retry_statuses: frozenset[int]
    retry_errors: tuple[type[Exception], ...]
    unknown_hint: str | None = None


_GET = _Policy(
    True,
    frozenset({429, 502, 503, 504}),
    (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError),
)
_CREATE = _Policy(False, frozenset({429}), _NOT_SENT, _CREATE_UNKNOWN_HINT)
_CONTROL = _Policy(False, frozenset({429}), _NOT_SENT)

# ----------------------------------------------------------------------------- log hygiene

# True while this task sends to a monitor URL; the filter below reads it.
_SEALED: contextvars.ContextVar[bool] = contextvars.ContextVar("vapi_mcp_sealed_request", default=False)
_WITHHELD = "[monitor URL withheld]"
_HTTP_LOGGERS = (
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)


class _SealedRequestFilter(logging.Filter):
    """Withhold URLs (and connection details) that httpx2/httpcore2 log while a control request runs.

    A logger's own filters see every record created on it, whatever handlers exist, so this
    holds even for handlers added later (pytest's caplog, uvicorn's config, a user's root handler).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SEALED.get():
            return True
        if record.name == "httpx2":
            if isinstance(record.args, tuple):  # no args: vapi_mcp.redact already cleaned the message
                record.args = tuple(
                    _WITHHELD if isinstance(a, httpx2.URL) or (isinstance(a, str) and "://" in a) else a
                    for a in record.args
                )
        else:  # httpcore2 traces: keep the event name, drop host/port/exception details
            head = str(record.msg).split(" ", 1)[0]
            record.msg, record.args = f"{head} [details withheld: monitor request]", None
        return True


def _install_log_filter() -> None:
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _SealedRequestFilter) for f in logger.filters):
            logger.addFilter(_SealedRequestFilter())


# ----------------------------------------------------------------------------- helpers


def _rest_timeout(seconds: float) -> httpx2.Timeout:
    return httpx2.Timeout(connect=min(5.0, seconds), read=seconds, write=seconds, pool=seconds)


def _retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            if scale != 1.0:
                continue
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def _clean(text: str, secrets: Iterable[str], limit: int) -> str:
    """One short, printable line with no secret and no monitor URL in it."""
    for secret in secrets:
        if len(secret) >= 6:  # shorter strings are not credentials, and replacing them would garble the text
            text = text.replace(secret, "[redacted]")
    text = _MONITOR_URL.sub("[redacted]", text)
    text = " ".join(_CONTROL_CHARS.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_body(response: httpx2.Response, secrets: Iterable[str]) -> tuple[str, str | None]:
    """Vapi's ``{"message": str | [str], "error": str, "statusCode": n}``, or a sanitised excerpt of the text."""
    secrets = tuple(secrets)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("message" in body or "error" in body):
        raw = body.get("message")
        text = "; ".join(str(m) for m in raw) if isinstance(raw, list) else ("" if raw is None else str(raw))
        message = _clean(text, secrets, _MAX_MESSAGE)
        error = body.get("error")
        error = (_clean(error, secrets, 100) or None) if isinstance(error, str) else None
    else:
        message, error = _clean(_HTML_TAG.sub(" ", response.text), secrets, _MAX_TEXT), None
    return message or response.reason_phrase or f"HTTP {response.status_code}", error


def _transport_error(exc: httpx2.RequestError, policy: _Policy, label: str) -> errors.VapiError:
    """Map an httpx2 failure by its type alone: its text and ``.request`` may hold the URL."""
    kind = type(exc).__name__
    if isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout):
        return errors.VapiTimeout(f"{label}: no connection to Vapi in time ({kind}); nothing was sent")
    if isinstance(exc, httpx2.ConnectError | httpx2.UnsupportedProtocol | httpx2.ProxyError):
        return errors.VapiUnreachable(f"{label}: could not connect to Vapi ({kind}); nothing was sent")
    if policy.idempotent:
        if isinstance(exc, httpx2.TimeoutException):
            return errors.VapiTimeout(f"{label}: Vapi did not answer in time ({kind})")
        return errors.VapiUnreachable(f"{label}: the exchange with Vapi failed ({kind})")
    return errors.DeliveryUnknown(
        f"{label}: sent, but no answer came back ({kind}); it may or may not have been applied",
        hint=policy.unknown_hint,
    )


def _call_from(data: Any, label: str) -> Call:
    try:
        return Call.model_validate(data)
    except ValidationError as exc:
        # Never str(exc): pydantic quotes the input, and the input holds the monitor URLs.
        where = sorted({".".join(map(str, e["loc"])) or "<root>" for e in exc.errors(include_input=False)})
        raise errors.VapiError(
            f"{label}: Vapi sent a call this client cannot read (fields: {', '.join(where)})"
        ) from None


def _json(response: httpx2.Response, label: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise errors.VapiError(f"{label}: Vapi answered {response.status_code} with a body that is not JSON") from None


# ----------------------------------------------------------------------------- the client


class VapiClient:
    """The Vapi wire. Make one per process and share it: it owns a connection pool.

    ``transport`` is the test seam (``httpx2.MockTransport``, or an ASGI transport to the emulator);
    ``sleep`` is injectable so retry tests do not wait for real.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.vapi.ai",
        *,
        public_key: str | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        control_timeout: float = 10.0,
        max_retries: int = 3,
        max_retry_wait_s: float = 10.0,
        user_agent: str = "vapi-mcp/0.1",
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("a Vapi private API key is required")
        self._api_key = SecretStr(api_key)
        self._public_key = SecretStr(public_key) if public_key else None
        self._base_url = base_url.rstrip("/")
        self._rest_timeout = _rest_timeout(timeout)
        self._control_timeout = _rest_timeout(control_timeout)
        self._max_retries = max(0, max_retries)
        self._max_wait = max(0.0, max_retry_wait_s)
        self._sleep = sleep
        _install_log_filter()
        url = httpx2.URL(self._base_url)
        if url.scheme == "http" and url.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("VAPI_BASE_URL uses plain http: the API key will cross the network unencrypted")
        # No auth header here: the private key is added per REST request (see the module docstring).
        self._http = httpx2.AsyncClient(
            base_url=self._base_url,
            transport=transport,
            timeout=self._rest_timeout,
            limits=_LIMITS,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"VapiClient(base_url={self._base_url!r}, public_key={'set' if self._public_key else 'unset'})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ REST

    async def create_call(self, request: CreateCallRequest) -> Call:
        """``POST /call`` (201). Retried only when the request certainly did not reach Vapi."""
        label = "POST /call"
        response = await self._rest("POST", "/call", label, _CREATE, json=to_wire(request))
        if not response.is_success:
            raise self._api_error(response)
        return _call_from(_json(response, label), label)

    async def get_call(self, call_id: str) -> Call:
        """``GET /call/{id}``; 404 is :class:`~vapi_mcp.errors.CallNotFound`."""
        if not isinstance(call_id, str) or not _CALL_ID.fullmatch(call_id):
            raise errors.InvalidInput(f"{call_id!r} is not a valid call id")
        label = f"GET /call/{call_id}"
        response = await self._rest("GET", f"/call/{call_id}", label, _GET)
        if response.status_code == 404:
            raise errors.CallNotFound(call_id)
        if not response.is_success:
            raise self._api_error(response)
        return _call_from(_json(response, label), label)

    async def list_calls(self, *, limit: int = 20, **filters: str) -> list[Call]:
        """``GET /call`` (a bare array). Filters by Vapi's names, in snake_case or camelCase:
        ``id``, ``assistant_id``, ``phone_number_id``, ``created_at_gt`` … ``updated_at_le`` (ISO datetimes).
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise errors.InvalidInput(f"limit must be an integer from 1 to 1000, not {limit!r}")
        params = {"limit": str(limit)}
        for name, value in filters.items():
            camel = to_camel(name)
            if camel not in _LIST_FILTERS:
                raise errors.InvalidInput(f"unknown call filter {name!r}; known: {', '.join(sorted(_LIST_FILTERS))}")
            params[camel] = str(value)
        label = "GET /call"
        response = await self._rest("GET", "/call", label, _GET, params=params)
        if not response.is_success:
            raise self._api_error(response)
        data = _json(response, label)
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            data = data["results"]  # tolerate a paginated envelope, should Vapi add one
        if not isinstance(data, list):
            raise errors.VapiError(f"{label}: expected a JSON array of calls")
        calls = []
        for item in data:
            try:
                calls.append(_call_from(item, label))
            except errors.VapiError as exc:  # one odd call must not hide the others
                log.warning("%s", exc)
        return calls

    async def _rest(
        self,
        method: str,
        path: str,
        label: str,
        policy: _Policy,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}

        def build() -> httpx2.Request:
            return self._http.build_request(
                method, path, params=params, json=json, headers=headers, timeout=self._rest_timeout
            )

        return await self._send(build, policy, label)

    def _api_error(self, response: httpx2.Response) -> errors.VapiApiError:
        status = response.status_code
        message, error = _error_body(response, self._secrets())
        if status in (401, 403):
            return errors.VapiAuthError(status, message, error=error)
        if status == 429:
            return errors.VapiRateLimited(message, retry_after=_retry_after(response.headers), error=error)
        return errors.VapiApiError(status, message, error=error)

    # ------------------------------------------------------------------ control

    async def send_control(self, call: Call, message: ControlMessage) -> None:
        """POST one control message to ``call.monitor.controlUrl``. Success is any 2xx; the body is ignored.

        A failure after the request may have left (read timeout, dropped connection) is
        :class:`~vapi_mcp.errors.DeliveryUnknown` and is never retried: a ``say`` must not be spoken twice.
        """
        control = call.monitor.control_url if call.monitor else None
        if control is None:
            raise errors.ControlUnavailable(
                f"call {call.id!r} has no control URL (it was created without monitorPlan.controlEnabled)"
            )
        secret_url = control.get_secret_value()
        try:
            url = httpx2.URL(secret_url)
        except Exception:  # httpx2.InvalidURL and friends quote the URL: keep only the fact
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise errors.ControlUnavailable(f"call {call.id!r} has a control URL that is not an http(s) URL")

        headers = {"Content-Type": "application/json"}
        if self._public_key is not None:
            headers["Authorization"] = f"Bearer {self._public_key.get_secret_value()}"
        body = to_wire(message)
        label = f"control {message.type} for call {call.id}"

        def build() -> httpx2.Request:
            return self._http.build_request("POST", url, json=body, headers=headers, timeout=self._control_timeout)

        token = _SEALED.set(True)
        try:
            response = await self._send(build, _CONTROL, label)
        finally:
            _SEALED.reset(token)
        if response.is_success:
            return
        status = response.status_code
        # The path carries the call's capability too; a very short one would only garble the text.
        extra = (secret_url, url.path) if len(url.path) >= 8 else (secret_url,)
        text, error = _error_body(response, (*self._secrets(), *extra))
        if status == 429:
            raise errors.VapiRateLimited(text, retry_after=_retry_after(response.headers), error=error)
        hint = None
        if status in (401, 403):
            hint = (
                "The control URL refused our credentials: with monitorPlan.controlAuthenticationEnabled it needs "
                "VAPI_PUBLIC_KEY (the public key)."
            )
        raise errors.ControlRejected(status, text, hint=hint)

    # ------------------------------------------------------------------ retry loop

    def _secrets(self) -> tuple[str, ...]:
        keys = [self._api_key.get_secret_value()]
        if self._public_key is not None:
            keys.append(self._public_key.get_secret_value())
        return tuple(keys)

    def _next_delay(self, attempt: int, waited: float, asked: float | None) -> float | None:
        """How long to sleep before the next attempt, or None to give up now."""
        if attempt >= self._max_retries:
            return None
        remaining = self._max_wait - waited
        if asked is not None:  # the server's wish: honour it fully or not at all
            return asked if asked <= remaining else None
        if remaining <= 0:
            return None
        backoff = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1.0)
        return min(backoff, remaining)

    async def _send(self, build: Callable[[], httpx2.Request], policy: _Policy, label: str) -> httpx2.Response:
        """Send with bounded retries. Returns the last response (any status); raises on transport failure."""
        waited = 0.0
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                response = await self._http.send(build())
            except httpx2.RequestError as exc:
                elapsed_ms = (time.perf_counter() - started) * 1000
                log.debug("%s -> %s after %.0f ms", label, type(exc).__name__, elapsed_ms)
                delay = self._next_delay(attempt, waited, None) if isinstance(exc, policy.retry_errors) else None
                if delay is None:
                    raise _transport_error(exc, policy, label) from None
                outcome = type(exc).__name__
            else:
                elapsed_ms = (time.perf_counter() - started) * 1000
                log.debug("%s -> %d in %.0f ms", label, response.status_code, elapsed_ms)
                if response.status_code not in policy.retry_statuses:
                    return response
                delay = self._next_delay(attempt, waited, _retry_after(response.headers))
                if delay is None:
                    return response
                outcome = str(response.status_code)
            attempt += 1
            log.info("%s -> %s; retry %d of %d in %.2f s", label, outcome, attempt, self._max_retries, delay)
            await self._sleep(delay)
            waited += delay
