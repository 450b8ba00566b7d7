"""The one exception tree of vapi-mcp.

Everything the domain raises on purpose is a :class:`VapiMcpError`. The MCP face
(``vapi_mcp.face``) maps these, and only these, to tool errors an agent can act
on; anything else is a bug and reaches the agent as a generic failure.

::

    VapiMcpError
    ├── InvalidInput            an argument passed the schema but makes no sense here
    ├── CallNotFound            no such call (locally or at Vapi)
    ├── CallEnded               the call is over; live control is impossible
    ├── PolicyViolation         refused by this server's policy before anything was sent
    ├── NotConfirmed            the human declined (or could not be asked) to confirm a destructive action
    │   ├── ReadOnlyMode        VAPI_MCP_READ_ONLY is on
    │   └── TransferNotAllowed  destination outside VAPI_MCP_TRANSFER_ALLOWLIST
    │       └── NestedTransferNotAllowed  …found inside a transient assistant / squad / overrides object
    ├── ControlUnavailable      the call has no monitor.controlUrl / listenUrl
    ├── ListenError             the listen session could not start or broke for good
    ├── CallNotSupervisable     Vapi created a call whose id this server cannot store (the call is live!)
    ├── RecordingUnavailable    the call has no recording to read (not listened to, or recording off)
    ├── ReportUnavailable       no end-of-call report has come by webhook for the call (yet)
    ├── WebhookRefused          a webhook request refused (401 / 400 / 413); nothing of it is recorded
    ├── DataDirUnsafe           a data-dir entry is a symlink or another user's: refused, nothing written
    └── VapiError               talking to Vapi failed
        ├── VapiApiError        Vapi answered with an error status (typed body)
        │   ├── VapiAuthError       401 / 403
        │   └── VapiRateLimited     429 that outlived our bounded retries
        ├── ControlRejected     the control endpoint refused a message (non-2xx)
        ├── VapiTimeout         no answer in time (request known not to have been applied)
        ├── VapiUnreachable     could not connect
        └── DeliveryUnknown     a control POST may or may not have reached Vapi; never retried

Messages never contain an API key or a monitor URL: those are capabilities.
"""

from __future__ import annotations

__all__ = [
    "CallEnded",
    "CallNotFound",
    "CallNotSupervisable",
    "ControlRejected",
    "ControlUnavailable",
    "DataDirUnsafe",
    "DeliveryUnknown",
    "InvalidInput",
    "ListenError",
    "NestedTransferNotAllowed",
    "NotConfirmed",
    "PolicyViolation",
    "ReadOnlyMode",
    "RecordingUnavailable",
    "ReportUnavailable",
    "TransferNotAllowed",
    "VapiApiError",
    "VapiAuthError",
    "VapiError",
    "VapiMcpError",
    "VapiRateLimited",
    "VapiTimeout",
    "VapiUnreachable",
    "WebhookRefused",
]


class VapiMcpError(Exception):
    """Base of every error vapi-mcp raises on purpose.

    ``hint`` tells an agent what it can do next; the MCP face appends it to the message.
    """

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidInput(VapiMcpError):
    hint = "Correct the argument and call the tool again."


class CallNotFound(VapiMcpError):
    hint = "Check the id with list_calls, or attach_call to supervise a call started elsewhere."

    def __init__(self, call_id: str, *, hint: str | None = None) -> None:
        super().__init__(f"call {call_id!r} not found", hint=hint)
        self.call_id = call_id


class CallEnded(VapiMcpError):
    hint = "The call is over; read its events or audio summary instead."

    def __init__(self, call_id: str, ended_reason: str | None = None, *, hint: str | None = None) -> None:
        why = f" ({ended_reason})" if ended_reason else ""
        super().__init__(f"call {call_id!r} has ended{why}", hint=hint)
        self.call_id = call_id
        self.ended_reason = ended_reason


class PolicyViolation(VapiMcpError):
    hint = "This server's operator set that rule; nothing was sent to Vapi."


class NotConfirmed(VapiMcpError):
    hint = "Nothing was sent to Vapi. Ask the operator what to do instead."


class ReadOnlyMode(PolicyViolation):
    def __init__(self, action: str) -> None:
        super().__init__(f"{action} is refused: VAPI_MCP_READ_ONLY is on")


class TransferNotAllowed(PolicyViolation):
    def __init__(self, destination: str, allowlist: tuple[str, ...]) -> None:
        super().__init__(
            f"transfer to {destination!r} refused: it matches no entry of VAPI_MCP_TRANSFER_ALLOWLIST "
            f"({', '.join(allowlist)})",
            hint="Transfer only to a destination on the allowlist; nothing was sent to Vapi.",
        )
        self.destination = destination
        self.allowlist = allowlist


class NestedTransferNotAllowed(TransferNotAllowed):
    """A destination inside a transient assistant, squad or overrides object is refused by the allowlist.

    ``path`` is the JSON path of the offending value (``assistant.model.tools[0].destinations[0].number``), so
    the agent and the operator can find it; ``reason`` says which rule refused it when the destination is not
    a plain mismatch (one chosen at run time by a server cannot be checked at all).
    """

    def __init__(self, destination: str, allowlist: tuple[str, ...], *, path: str, reason: str | None = None) -> None:
        why = reason or f"it matches no entry of VAPI_MCP_TRANSFER_ALLOWLIST ({', '.join(allowlist)})"
        PolicyViolation.__init__(
            self,
            f"{path}: transfer to {destination} refused: {why}",
            hint="Every destination a call can be sent to must be on the allowlist; nothing was sent to Vapi.",
        )
        self.destination = destination
        self.allowlist = allowlist
        self.path = path
        self.reason = reason


class ControlUnavailable(VapiMcpError):
    hint = "The call was created without monitorPlan control/listen enabled; create calls with create_call."


class ListenError(VapiMcpError):
    hint = "Check get_call for the call's status; start_listening again once it is in progress."


class CallNotSupervisable(VapiMcpError):
    hint = (
        "The call exists at Vapi and may be ringing a real person now: do NOT create it again. "
        "Follow it in Vapi's dashboard, or end it there."
    )

    def __init__(self, call_id: str, reason: str) -> None:
        super().__init__(f"Vapi created call {call_id[:80]!r}, but this server cannot supervise it: {reason}")
        self.call_id = call_id


class RecordingUnavailable(VapiMcpError):
    hint = "Recordings exist only for calls this server listened to with VAPI_MCP_RECORD on; start_listening."

    def __init__(self, call_id: str, *, owner: str | None = None) -> None:
        where = f" here: replica {owner!r} recorded it (its data dir holds the WAV)" if owner else ""
        super().__init__(f"call {call_id!r} has no recording{where}")
        self.call_id = call_id
        self.owner = owner


class ReportUnavailable(VapiMcpError):
    hint = (
        "Vapi sends its end-of-call report to the Server URL once the call ends: point it at this server's "
        "/vapi/webhook with end-of-call-report among the assistant's serverMessages."
    )

    def __init__(self, call_id: str) -> None:
        super().__init__(f"no end-of-call report for call {call_id!r} yet")
        self.call_id = call_id


class WebhookRefused(VapiMcpError):
    """A webhook request that must not be recorded: ``status`` is the HTTP answer (400, 401, 413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DataDirUnsafe(VapiMcpError):
    """A folder or file in the data dir is not private to this user: a symlink, or another user's.

    Refused rather than repaired: following it could write call audio or transcripts outside the data dir,
    or change the mode of someone else's file. (A folder of ours that is merely too open is repaired.)
    """

    hint = (
        "The server's data dir (VAPI_MCP_DATA_DIR) holds an entry it did not create; nothing was written. "
        "The operator must remove or fix it."
    )


class VapiError(VapiMcpError):
    """Talking to Vapi failed."""

    hint = "Vapi could not be reached or refused the request; check get_call before retrying."


class VapiApiError(VapiError):
    """Vapi answered with an error status. ``message`` is Vapi's own text (a list is joined)."""

    def __init__(self, status_code: int, message: str, *, error: str | None = None, hint: str | None = None) -> None:
        label = f"Vapi error {status_code}" + (f" {error}" if error else "")
        super().__init__(f"{label}: {message}", hint=hint)
        self.status_code = status_code
        self.vapi_message = message
        self.error = error


class VapiAuthError(VapiApiError):
    hint = "The API key was refused; check VAPI_API_KEY (a private key, not the public one)."


class VapiRateLimited(VapiApiError):
    hint = "Vapi is rate limiting this key; wait and try again."

    def __init__(self, message: str, *, retry_after: float | None = None, error: str | None = None) -> None:
        super().__init__(429, message, error=error)
        self.retry_after = retry_after


class ControlRejected(VapiError):
    hint = "Vapi refused the control message; check the call is still in progress with get_call."

    def __init__(self, status_code: int, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"control message refused ({status_code}): {message}", hint=hint)
        self.status_code = status_code


class VapiTimeout(VapiError):
    hint = "Vapi did not answer in time; try again shortly."


class VapiUnreachable(VapiError):
    hint = "Vapi could not be reached; check the network and VAPI_BASE_URL."


class DeliveryUnknown(VapiError):
    hint = (
        "The message may or may not have reached the call; it was not retried so nothing is said twice. "
        "Check get_call_events or the call's state before sending it again."
    )
