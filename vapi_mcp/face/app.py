"""The MCP face: tools, resources, completions and notifications over the CallSupervisor.

Only this module (with ``notify``, ``http`` and the CLI) imports ``mcp``. ``create_server``
builds everything; nothing happens at import time. ``agent_errors`` is the one place where
our exceptions become tool errors an agent can act on.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, Completion, Resource, ResourceTemplateReference, ToolAnnotations
from pydantic import Field, StringConstraints, ValidationError

from vapi_mcp import __version__
from vapi_mcp.errors import CallNotFound, VapiMcpError
from vapi_mcp.face.notify import Notifier
from vapi_mcp.listen.recorder import tail_wav
from vapi_mcp.policy import E164_PATTERN
from vapi_mcp.redact import install_redaction
from vapi_mcp.settings import Settings
from vapi_mcp.store.files import CallStorage
from vapi_mcp.supervisor import CallSupervisor
from vapi_mcp.supervisor.listening import SessionManager
from vapi_mcp.supervisor.views import (
    AudioSummary,
    CallInfo,
    CallList,
    ControlResult,
    EventsPage,
    ListenResult,
    WaitResult,
    resource_uris,
)
from vapi_mcp.vapi import VapiClient
from vapi_mcp.vapi.models import ControlAction, TransferMode

__all__ = ["AppState", "agent_errors", "create_server"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

INSTRUCTIONS = """\
Supervise live Vapi phone calls. Start with list_calls or create_call / attach_call, then steer the call with
say, add_message, control_call, transfer_call, handoff_call and end_call. Every call has an event log
(get_call_events, or the vapi://calls/{call_id}/events resource) that records status changes and every control
message sent. Destructive tools (end_call, transfer_call, handoff_call) act on a real person's phone call:
be sure before using them."""

CallId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Vapi call id (from list_calls or create_call).",
    ),
]
E164 = Annotated[str, Field(pattern=E164_PATTERN, description="Phone number in E.164 form, e.g. +14155550123.")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]
OptionalShort = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
ResourceId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
LOCAL_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
WRITE_IDEMPOTENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)
DESTRUCTIVE_IDEMPOTENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)


def agent_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Map every ``VapiMcpError`` to a ``ToolError`` whose text says what happened and what to do next."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except VapiMcpError as exc:
            text = f"{exc} ({type(exc).__name__})"
            if exc.hint:
                text += f". {exc.hint}"
            raise ToolError(text) from exc
        except ValidationError as exc:
            # A Vapi message model refused a combination the tool schema let through.
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
            raise ToolError(f"invalid arguments: {problems} (InvalidInput). Correct them and try again.") from exc

    return wrapper


def tool(
    server: MCPServer[Any], *, title: str, annotations: ToolAnnotations
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Register a tool with its annotations, always behind ``agent_errors``."""

    def register(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        server.tool(title=title, annotations=annotations)(agent_errors(fn))
        return fn

    return register


@dataclass
class AppState:
    """What the lifespan builds; tools and resources reach it through the closure."""

    settings: Settings
    notifier: Notifier
    supervisor: CallSupervisor | None = None
    listener: SessionManager | None = None

    def require(self) -> CallSupervisor:
        if self.supervisor is None:
            raise RuntimeError("the server is not running (lifespan not entered)")
        return self.supervisor

    def sessions(self) -> SessionManager:
        if self.listener is None:
            raise RuntimeError("the server is not running (lifespan not entered)")
        return self.listener


class _Sink:
    """Turns supervisor changes into coalesced resource notifications."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def call_changed(self, call_id: str, aspects: tuple[str, ...]) -> None:
        uris = resource_uris(call_id)
        for aspect in aspects:
            self.notifier.resource_changed(
                {
                    "call": uris.call,
                    "events": uris.events,
                    "audio-summary": uris.audio_summary,
                    "transcript": uris.transcript,
                    "recording": uris.recording,
                }[aspect]
            )
        if "call" in aspects:
            self.notifier.resource_changed("vapi://calls")

    def calls_changed(self) -> None:
        self.notifier.resource_changed("vapi://calls")
        self.notifier.list_changed()


class VapiMCPServer(MCPServer[AppState]):
    """``resources/list`` also shows one entry per supervised call; a bad prompt request is -32602."""

    state: AppState

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        # The SDK reports an unknown prompt or a missing argument as an internal error (-32603, or 0 on
        # the handshake era) and logs a traceback; the spec wants invalid params.
        if self._prompt_manager.get_prompt(name) is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {name}")
        try:
            return await super().get_prompt(name, arguments, context)
        except ValueError as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None

    async def list_resources(self) -> list[Resource]:
        resources = await super().list_resources()
        supervisor = self.state.supervisor
        if supervisor is None:
            return resources
        for sup in supervisor.calls.values():
            resources.append(
                Resource(
                    uri=f"vapi://calls/{sup.call_id}",
                    name=f"call-{sup.call_id}",
                    title=f"Call {sup.call_id} ({sup.call.status})",
                    description="One supervised call: status, listen state, event count, resource URIs.",
                    mime_type="application/json",
                )
            )
        return resources


def create_server(settings: Settings) -> VapiMCPServer:
    """Build the MCP server. Nothing touches the network until the lifespan starts."""
    notifier = Notifier()
    state = AppState(settings=settings, notifier=notifier)

    @asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        if settings.api_key is None:
            raise RuntimeError("VAPI_API_KEY is not set")
        client = VapiClient(
            settings.api_key.get_secret_value(),
            settings.base_url,
            public_key=settings.public_key.get_secret_value() if settings.public_key else None,
            timeout=settings.request_timeout_s,
            control_timeout=settings.control_timeout_s,
            max_retries=settings.max_retries,
        )
        async with client, anyio.create_task_group() as tg:
            supervisor = CallSupervisor(settings, client, CallStorage(settings.data_dir), _Sink(notifier))
            state.supervisor = supervisor
            state.listener = SessionManager(supervisor, tg, settings)
            tg.start_soon(notifier.run)
            try:
                yield state
            finally:
                # Cancelling the group closes every listen socket; each pipeline flushes in its session's finally.
                tg.cancel_scope.cancel()
                state.supervisor = state.listener = None
                for sup in supervisor.calls.values():
                    sup.log.close()

    server = VapiMCPServer(
        "vapi-mcp",
        title="Vapi call supervisor",
        description="Supervise live Vapi phone calls: control tools, live events and audio summaries.",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        subscriptions=notifier.bus,
    )
    server.state = state
    install_redaction(settings.secrets())
    notifier.install(server)
    _register_call_tools(server, state)
    if not settings.read_only:
        _register_control_tools(server, state)
    _register_resources(server, state)
    _register_prompts(server)
    return server


SUPERVISE_PROMPT = """\
You are supervising live phone call {call_id} on Vapi for a human operator. Goal: {goal}

1. get_call to see its status; start_listening if it is not listening yet.
2. Follow the call with wait_for_event (types: speech.started, speech.stopped, silence, overlap, transcript,
   call.status), passing the returned next_seq as after_seq each time. get_audio_summary shows talk ratios,
   silences and interruptions at a glance.
3. Steer gently: add_message (role=system, trigger_response=false) to whisper guidance to the assistant;
   say only when the caller must hear exact words; control_call to mute or unmute.
4. end_call, transfer_call and handoff_call act on a real person's call and cannot be undone: ask the operator
   before using them unless the goal above explicitly allows it.
5. When the call ends, summarise what happened from the events and the audio summary.
"""


def _register_prompts(server: MCPServer[AppState]) -> None:
    @server.prompt(name="supervise_call", title="Supervise a live call")
    def supervise_call(
        call_id: Annotated[str, Field(description="The call to supervise.")],
        goal: Annotated[str, Field(description="What the supervisor should watch for.")] = (
            "keep the conversation on track and flag dead air or talk-over"
        ),
    ) -> str:
        """A playbook for an agent supervising one call with this server's tools."""
        return SUPERVISE_PROMPT.format(call_id=call_id, goal=goal)


def _register_call_tools(server: MCPServer[AppState], state: AppState) -> None:
    @tool(server, title="Attach to a call", annotations=READ)
    async def attach_call(call_id: CallId, listen: bool = True) -> CallInfo:
        """Supervise a call started elsewhere (e.g. an inbound call): fetch it from Vapi and start its event log.

        Use this before reading events of a call this server did not create.
        """
        sup = await state.require().attach_call(call_id)
        if listen and not sup.ended:
            state.sessions().start(sup)
        return state.require().info(sup)

    @tool(server, title="Get a call", annotations=READ)
    async def get_call(call_id: CallId) -> CallInfo:
        """Current status, endedReason, timing, customer, listen state and event count of one call."""
        return await state.require().get_call(call_id)

    @tool(server, title="List calls", annotations=READ)
    async def list_calls(
        limit: Annotated[int, Field(ge=1, le=100, description="How many calls, newest first.")] = 20,
        status: Annotated[
            Literal["scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"] | None,
            Field(description="Only calls with this status."),
        ] = None,
    ) -> CallList:
        """Recent calls from Vapi, newest first, merged with what this server supervises."""
        return CallList(calls=await state.require().list_calls(limit=limit, status=status))

    @tool(server, title="Read a call's events", annotations=LOCAL_READ)
    async def get_call_events(
        call_id: CallId,
        after_seq: Annotated[int, Field(ge=0, description="Only events with seq greater than this.")] = 0,
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
        types: Annotated[list[str] | None, Field(max_length=20, description="Only these event types.")] = None,
    ) -> EventsPage:
        """Read a supervised call's event log in order (twin of the vapi://calls/{call_id}/events resource).

        Pass the returned next_seq as after_seq to read only what is new.
        """
        return state.require().events(call_id, after_seq=after_seq, limit=limit, types=types)

    @tool(server, title="Start listening", annotations=READ)
    async def start_listening(call_id: CallId) -> ListenResult:
        """Open the call's live audio stream in the background (returns at once).

        While listening, the server logs who speaks when, silences, talk-over and transcripts as events, keeps an
        audio summary, and records the call. Use wait_for_event or get_call_events to follow it.
        """
        supervisor = state.require()
        sup = supervisor.calls.get(call_id) or await supervisor.attach_call(call_id)
        if sup.ended:
            return ListenResult(
                call_id=call_id, listening=False, listen_state=sup.listen_state, detail="call has ended"
            )
        state.sessions().start(sup)
        detail = "listening" if sup.call.status in ("in-progress", "forwarding") else "will listen once in progress"
        return ListenResult(call_id=call_id, listening=True, listen_state=sup.listen_state, detail=detail)

    @tool(server, title="Stop listening", annotations=READ)
    async def stop_listening(call_id: CallId) -> ListenResult:
        """Close the call's background listen session (returns at once); events and summary stay readable."""
        sup = state.require().supervised(call_id)
        state.sessions().stop(sup)
        return ListenResult(call_id=call_id, listening=False, listen_state=sup.listen_state, detail="stopping")

    @tool(server, title="Audio summary", annotations=LOCAL_READ)
    async def get_audio_summary(call_id: CallId) -> AudioSummary:
        """Who talked how long, turns, levels, overlap, silences, interruptions and a sparkline per party.

        Twin of the vapi://calls/{call_id}/audio-summary resource. Needs a listen session (start_listening).
        """
        return state.require().audio_summary(call_id)

    @tool(server, title="Wait for an event", annotations=LOCAL_READ)
    async def wait_for_event(
        call_id: CallId,
        ctx: Context,
        types: Annotated[list[str] | None, Field(max_length=20, description="Event types to wait for.")] = None,
        after_seq: Annotated[
            int | None, Field(ge=0, description="Wait for events after this seq (default: only new ones).")
        ] = None,
        timeout_s: Annotated[float, Field(gt=0, le=50, description="Give up after this long (max 50 s).")] = 20,
    ) -> WaitResult:
        """Block until the call logs a matching event, or the timeout (progress is reported while waiting).

        Examples: types=["speech.started"] to know when someone talks, ["silence"] for dead air,
        ["call.status"] for status changes. Returns the matching events and next_seq.
        """

        async def progress(waited: float, total: float) -> None:
            await ctx.report_progress(waited, total, f"waiting for events on call {call_id}")

        return await state.require().wait_for_event(
            call_id, types=types, after_seq=after_seq, timeout_s=timeout_s, progress=progress
        )


def _register_control_tools(server: MCPServer[AppState], state: AppState) -> None:
    @tool(server, title="Create an outbound call", annotations=WRITE)
    async def create_call(
        customer_number: E164,
        assistant_id: Annotated[ResourceId | None, Field(description="Saved Vapi assistant to run.")] = None,
        assistant: Annotated[
            dict[str, Any] | None, Field(description="Transient assistant object (Vapi schema).")
        ] = None,
        phone_number_id: Annotated[ResourceId | None, Field(description="Vapi phone number to call from.")] = None,
        squad_id: Annotated[ResourceId | None, Field(description="Vapi squad to run instead of an assistant.")] = None,
        customer_name: OptionalShort | None = None,
        listen: bool = True,
    ) -> CallInfo:
        """Place an outbound phone call with live control enabled, and supervise it.

        This dials a real person. Give exactly one of assistant_id, assistant or squad_id.
        """
        supervisor = state.require()
        sup = await supervisor.create_call(
            customer_number=customer_number,
            assistant_id=assistant_id,
            assistant=assistant,
            squad_id=squad_id,
            phone_number_id=phone_number_id,
            customer_name=customer_name,
        )
        if listen and sup.call.monitor and sup.call.monitor.listen_url:
            state.sessions().start(sup)
        return supervisor.info(sup)

    @tool(server, title="Say something on the call", annotations=WRITE)
    async def say(
        call_id: CallId,
        content: Text,
        end_call_after_spoken: bool = False,
        interrupt_assistant: Annotated[
            bool, Field(description="Cut off what the assistant is saying now instead of waiting.")
        ] = False,
    ) -> ControlResult:
        """Make the assistant speak these exact words to the caller now (text-to-speech)."""
        return await state.require().say(
            call_id, content, end_call_after_spoken=end_call_after_spoken, interrupt_assistant=interrupt_assistant
        )

    @tool(server, title="Add a message to the conversation", annotations=WRITE)
    async def add_message(
        call_id: CallId,
        content: LongText,
        role: Literal["system", "user", "assistant"] = "system",
        trigger_response: Annotated[
            bool, Field(description="Let the assistant respond now; false inserts the message silently.")
        ] = True,
    ) -> ControlResult:
        """Whisper guidance to the assistant (role=system) without the caller hearing it verbatim."""
        return await state.require().add_message(call_id, content, role=role, trigger_response=trigger_response)

    @tool(server, title="Mute, unmute or replay the greeting", annotations=WRITE_IDEMPOTENT)
    async def control_call(
        call_id: CallId,
        action: ControlAction,
    ) -> ControlResult:
        """Mute or unmute the assistant or the customer, or make the assistant say its first message."""
        return await state.require().control(call_id, action)

    @tool(server, title="End the call", annotations=DESTRUCTIVE_IDEMPOTENT)
    async def end_call(call_id: CallId) -> ControlResult:
        """Hang up the call now, for both parties. Cannot be undone."""
        return await state.require().end_call(call_id)

    @tool(server, title="Transfer the call", annotations=DESTRUCTIVE)
    async def transfer_call(
        call_id: CallId,
        destination: Annotated[
            str,
            Field(min_length=1, max_length=256, description="E.164 number (+14155550123) or SIP URI (sip:a@b.com)."),
        ],
        message: Annotated[OptionalShort | None, Field(description="Spoken to the caller before transferring.")] = None,
        extension: Annotated[str | None, Field(pattern=r"^[0-9*#,wW]{1,20}$", description="DTMF extension.")] = None,
        caller_id: Annotated[E164 | None, Field(description="Caller id shown to the destination.")] = None,
        mode: Annotated[TransferMode | None, Field(description="Vapi transferPlan mode (default blind).")] = None,
    ) -> ControlResult:
        """Forward the caller to a phone number or SIP URI; the AI leaves the call. Cannot be undone."""
        return await state.require().transfer(
            call_id, destination, message=message, extension=extension, caller_id=caller_id, mode=mode
        )

    @tool(server, title="Hand off to another assistant", annotations=DESTRUCTIVE)
    async def handoff_call(
        call_id: CallId,
        assistant_id: Annotated[ResourceId | None, Field(description="Saved assistant to take over.")] = None,
        assistant: Annotated[dict[str, Any] | None, Field(description="Transient assistant object.")] = None,
        context: Annotated[
            Literal["all", "none", "lastNMessages"], Field(description="How much conversation the new assistant sees.")
        ] = "all",
        max_messages: Annotated[int | None, Field(ge=1, le=500, description="With context=lastNMessages.")] = None,
        message: Annotated[OptionalShort | None, Field(description="Spoken to the caller during the handoff.")] = None,
    ) -> ControlResult:
        """Replace the assistant on the live call with another one (give assistant_id or assistant)."""
        return await state.require().handoff(
            call_id,
            assistant_id=assistant_id,
            assistant=assistant,
            context=context,
            max_messages=max_messages,
            message=message,
        )


def _recording_tail(state: AppState, sup: Any) -> bytes:
    pipeline = sup.pipeline
    if pipeline is None or pipeline.recording_path is None or not pipeline.recording_path.exists():
        raise ResourceNotFoundError(f"call {sup.call_id!r} has no recording (not listened to, or recording is off)")
    if pipeline.recorder is not None:
        pipeline.recorder.flush()
    return tail_wav(pipeline.recording_path, state.settings.recording_resource_s)


def _register_resources(server: MCPServer[AppState], state: AppState) -> None:
    def supervised_or_404(call_id: str) -> Any:
        try:
            return state.require().supervised(call_id)
        except CallNotFound as exc:
            raise ResourceNotFoundError(f"{exc}; attach_call first") from None

    @server.resource("vapi://calls", name="calls", title="Supervised calls", mime_type="application/json")
    def calls_resource() -> str:
        """Every call this server supervises, with status and listen state."""
        supervisor = state.require()
        return CallList(calls=[supervisor.info(sup) for sup in supervisor.calls.values()]).model_dump_json()

    @server.resource("vapi://calls/{call_id}", name="call", title="Call state", mime_type="application/json")
    def call_resource(call_id: str) -> str:
        """One supervised call: status, listen state, event count and resource URIs."""
        return state.require().info(supervised_or_404(call_id)).model_dump_json()

    @server.resource(
        "vapi://calls/{call_id}/events", name="call-events", title="Call events", mime_type="application/json"
    )
    def events_resource(call_id: str) -> str:
        """The latest window of a call's event log, with next_seq for get_call_events."""
        sup = supervised_or_404(call_id)
        after = max(0, sup.log.latest_seq - 200)
        return state.require().events(call_id, after_seq=after, limit=200).model_dump_json()

    @server.resource(
        "vapi://calls/{call_id}/audio-summary",
        name="call-audio-summary",
        title="Live audio summary",
        mime_type="application/json",
    )
    def audio_summary_resource(call_id: str) -> str:
        """Talk time, turns, levels, overlap, silences and sparkline per party (updates live while listening)."""
        supervised_or_404(call_id)
        return state.require().audio_summary(call_id).model_dump_json()

    @server.resource(
        "vapi://calls/{call_id}/transcript", name="call-transcript", title="Transcript", mime_type="text/plain"
    )
    def transcript_resource(call_id: str) -> str:
        """Final transcript lines Vapi sent on the listen stream, one 'role: text' per line."""
        supervised_or_404(call_id)
        return state.require().transcript(call_id)

    @server.resource(
        "vapi://calls/{call_id}/recording.wav", name="call-recording", title="Recording (latest)", mime_type="audio/wav"
    )
    def recording_resource(call_id: str) -> bytes:
        """The latest minutes of the call's stereo recording (customer left, assistant right) as WAV."""
        return _recording_tail(state, supervised_or_404(call_id))

    @server.completion()
    async def complete(ref: Any, argument: Any, context: Any) -> Completion | None:
        if not isinstance(ref, ResourceTemplateReference) or argument.name != "call_id":
            return None
        supervisor = state.supervisor
        ids = sorted(supervisor.calls) if supervisor else []
        values = [cid for cid in ids if cid.startswith(argument.value)][:100]
        return Completion(values=values, total=len(values), has_more=False)
