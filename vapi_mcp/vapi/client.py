"""``VapiClient``: Vapi's REST API and the per-call control endpoint over one pooled httpx2 client.

Two hosts, two credentials. REST (``/call``) lives at ``base_url`` and takes the *private* key.
Each call's control endpoint lives at ``call.monitor.controlUrl``, on a host that varies per call
(reference §1.1); it takes the *public* key when ``monitorPlan.controlAuthenticationEnabled`` is on,
and nothing otherwise. The private key is therefore set per REST request, never on the shared
client, so it cannot follow a request to the control host: it is an account-wide credential and
the control host has no use for it.

Retries are bounded (``max_retries``, and at most ``max_retry_wait_s`` of sleeping per request) and
depend on whether repeating the request is safe: :mod:`vapi_mcp.vapi.retry` has the table.

Secrets: no message, repr or log line made here contains a key or a monitor URL. httpx2 exceptions
carry the request (and so the URL); they are mapped by type and never stringified. httpx2 itself logs
every request URL at INFO, so a logging filter withholds the URL of control requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, cast

import anyio
import httpx2
from pydantic import SecretStr
from pydantic.alias_generators import to_camel

from vapi_mcp import errors
from vapi_mcp.ids import is_valid_id
from vapi_mcp.vapi import retry
from vapi_mcp.vapi.models import Call, ControlMessage, CreateCallRequest, to_wire
from vapi_mcp.vapi.responses import call_from, error_body, json_body, transport_error
from vapi_mcp.vapi.sealed import install_log_filter, sealed

__all__ = ["CallPage", "VapiClient"]

log = logging.getLogger(__name__)

_LIMITS = httpx2.Limits(max_connections=50, max_keepalive_connections=10, keepalive_expiry=30.0)
_LIST_FILTERS = frozenset(
    {"id", "assistantId", "phoneNumberId"}
    | {f"{field}At{op}" for field in ("created", "updated") for op in ("Gt", "Lt", "Ge", "Le")}
)


def _is_call_id(value: object) -> bool:
    """Checked at run time too: agents' arguments arrive as JSON, and an id must never change the path.

    The one id rule (``vapi_mcp.ids``), the same the tool schemas and the store apply: an id the client
    accepts is one the server can also store (issue 8, defect 10).
    """
    return is_valid_id(value)


def _is_limit(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000


@dataclass(slots=True)
class CallPage:
    """One ``GET /call`` answer: the calls read (all, or those asked for), every id in it, the oldest
    ``createdAt`` (ISO-8601, as sent)."""

    calls: list[Call]
    ids: list[str]
    oldest: str | None


def _call_list(data: object) -> list[object] | None:
    """The calls of a ``GET /call`` answer: a bare array, or (should Vapi add one) a paginated envelope."""
    if isinstance(data, dict):
        data = cast(dict[str, object], data).get("results")
    return cast(list[object], data) if isinstance(data, list) else None


def _rest_timeout(seconds: float) -> httpx2.Timeout:
    return httpx2.Timeout(connect=min(5.0, seconds), read=seconds, write=seconds, pool=seconds)


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
        install_log_filter()
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
        response = await self._rest("POST", "/call", label, retry.CREATE, json=to_wire(request))
        if not response.is_success:
            raise self._api_error(response)
        return call_from(json_body(response, label), label)

    async def get_call(self, call_id: str) -> Call:
        """``GET /call/{id}``; 404 is :class:`~vapi_mcp.errors.CallNotFound`."""
        if not _is_call_id(call_id):
            raise errors.InvalidInput(f"{call_id!r} is not a valid call id")
        label = f"GET /call/{call_id}"
        response = await self._rest("GET", f"/call/{call_id}", label, retry.GET)
        if response.status_code == 404:
            raise errors.CallNotFound(call_id)
        if not response.is_success:
            raise self._api_error(response)
        return call_from(json_body(response, label), label)

    async def list_calls(self, *, limit: int = 20, **filters: str) -> list[Call]:
        """``GET /call`` (a bare array). Filters by Vapi's names, in snake_case or camelCase:
        ``id``, ``assistant_id``, ``phone_number_id``, ``created_at_gt`` … ``updated_at_le`` (ISO datetimes).
        """
        return (await self.list_call_page(limit=limit, **filters)).calls

    async def list_call_page(self, *, limit: int = 20, only: Container[str] | None = None, **filters: str) -> CallPage:
        """``GET /call`` as :meth:`list_calls`, with what paging needs; with ``only``, just those calls are read
        into models (a replica polls the fleet's list for its own calls: the others cost no parsing)."""
        if not _is_limit(limit):
            raise errors.InvalidInput(f"limit must be an integer from 1 to 1000, not {limit!r}")
        params = {"limit": str(limit)}
        for name, value in filters.items():
            camel = to_camel(name)
            if camel not in _LIST_FILTERS:
                raise errors.InvalidInput(f"unknown call filter {name!r}; known: {', '.join(sorted(_LIST_FILTERS))}")
            params[camel] = str(value)
        label = "GET /call"
        response = await self._rest("GET", "/call", label, retry.GET, params=params)
        if not response.is_success:
            raise self._api_error(response)
        items = _call_list(json_body(response, label))
        if items is None:
            raise errors.VapiError(f"{label}: expected a JSON array of calls")
        page = CallPage(calls=[], ids=[], oldest=None)
        for item in items:
            raw = cast(dict[str, object], item) if isinstance(item, dict) else {}
            call_id, created = raw.get("id"), raw.get("createdAt")
            if isinstance(call_id, str):
                page.ids.append(call_id)
            if isinstance(created, str) and (page.oldest is None or created < page.oldest):
                page.oldest = created
            if only is not None and (not isinstance(call_id, str) or call_id not in only):
                continue
            try:
                page.calls.append(call_from(item, label))
            except errors.VapiError as exc:  # one odd call must not hide the others
                log.warning("%s", exc)
        return page

    async def _rest(
        self,
        method: str,
        path: str,
        label: str,
        policy: retry.RetryPolicy,
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
        message, error = error_body(response, self._secrets())
        if status in (401, 403):
            return errors.VapiAuthError(status, message, error=error)
        if status == 429:
            return errors.VapiRateLimited(message, retry_after=retry.retry_after(response.headers), error=error)
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

        with sealed():
            response = await self._send(build, retry.CONTROL, label)
        if response.is_success:
            return
        status = response.status_code
        # The path carries the call's capability too; a very short one would only garble the text.
        extra = (secret_url, url.path) if len(url.path) >= 8 else (secret_url,)
        text, error = error_body(response, (*self._secrets(), *extra))
        if status == 429:
            raise errors.VapiRateLimited(text, retry_after=retry.retry_after(response.headers), error=error)
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
        return retry.next_delay(attempt, waited, asked, max_retries=self._max_retries, max_wait=self._max_wait)

    async def _send(
        self, build: Callable[[], httpx2.Request], policy: retry.RetryPolicy, label: str
    ) -> httpx2.Response:
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
                    raise transport_error(exc, policy, label) from None
                outcome = type(exc).__name__
            else:
                elapsed_ms = (time.perf_counter() - started) * 1000
                log.debug("%s -> %d in %.0f ms", label, response.status_code, elapsed_ms)
                if response.status_code not in policy.retry_statuses:
                    return response
                delay = self._next_delay(attempt, waited, retry.retry_after(response.headers))
                if delay is None:
                    return response
                outcome = str(response.status_code)
            attempt += 1
            log.info("%s -> %s; retry %d of %d in %.2f s", label, outcome, attempt, self._max_retries, delay)
            await self._sleep(delay)
            waited += delay
