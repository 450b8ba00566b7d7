"""The supervisor on its own, against the emulator over loopback: no MCP anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from tests.conftest import make_settings
from tests.helpers import CUSTOMER
from vapi_mcp.emulator import Emulator
from vapi_mcp.errors import CallEnded, CallNotFound, RecordingUnavailable, TransferNotAllowed
from vapi_mcp.settings import Settings
from vapi_mcp.supervisor import Aspect, CallSupervisor, running_supervisor


class Recorder:
    """An observer that remembers every notice."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, tuple[Aspect, ...]]] = []
        self.list_changes = 0

    def call_changed(self, call_id: str, aspects: tuple[Aspect, ...], *, from_log: bool = False) -> None:
        self.changes.append((call_id, aspects))

    def calls_changed(self) -> None:
        self.list_changes += 1

    def inbox_changed(self) -> None:
        return None

    def aspects(self, call_id: str) -> set[str]:
        return {a for cid, aspects in self.changes if cid == call_id for a in aspects}


@pytest.fixture
def observer() -> Recorder:
    return Recorder()


@pytest.fixture
async def supervisor(settings: Settings, observer: Recorder) -> AsyncIterator[CallSupervisor]:
    async with running_supervisor(settings, observer) as sup:
        yield sup


async def wait_for_status(sup: CallSupervisor, call_id: str, status: str) -> None:
    while (await sup.get_call(call_id)).status != status:
        await anyio.sleep(0.05)


async def test_create_listen_and_end(supervisor: CallSupervisor, emulator: Emulator, observer: Recorder) -> None:
    with anyio.fail_after(20):
        info = await supervisor.create_call(customer_number=CUSTOMER, assistant_id="asst-1")
        call_id = info.call_id
        assert info.supervised and info.listening and info.listen_state == "waiting"
        assert emulator.calls[call_id].body["assistantOverrides"]["monitorPlan"]["listenEnabled"] is True
        waited = await supervisor.wait_for_event(call_id, types=["speech.started"], after_seq=0, timeout_s=15)
        assert waited.matched, "the supervisor listened by itself once the call was in progress"
        summary = await supervisor.audio_summary(call_id)
        assert summary.duration_s > 0 and summary.listen_state == "connected"
        assert supervisor.recording(call_id)[:4] == b"RIFF"
        result = await supervisor.end_call(call_id)
        assert result.type == "end-call" and result.event_seq is not None
        await wait_for_status(supervisor, call_id, "ended")
        with pytest.raises(CallEnded):
            await supervisor.say(call_id, "too late")
    types = [e.type for e in supervisor.events(call_id, limit=500).events]
    assert types[0] == "call.status" and "listen.connected" in types and "control.sent" in types
    # The observer heard about the call list and about every view the call has.
    assert observer.list_changes >= 2  # added, then ended
    assert {"call", "events", "audio-summary", "recording"} <= observer.aspects(call_id)


async def test_attach_without_listening_and_reads_of_unknown_calls(
    supervisor: CallSupervisor, settings: Settings
) -> None:
    with anyio.fail_after(15):
        created = await supervisor.create_call(customer_number=CUSTOMER, assistant_id="asst-1", listen=False)
        assert not created.listening
        # A second supervisor (another process, say) attaches to the same call.
        async with running_supervisor(settings.model_copy(update={"data_dir": settings.data_dir / "other"})) as other:
            with pytest.raises(CallNotFound):
                other.events(created.call_id)
            attached = await other.attach_call(created.call_id, listen=False)
            assert attached.supervised and attached.call_id == created.call_id and not attached.listening
            with pytest.raises(RecordingUnavailable):
                other.recording(created.call_id)
            assert [c.call_id for c in other.supervised_calls()] == [created.call_id]


async def test_stop_listening_keeps_what_was_heard(supervisor: CallSupervisor) -> None:
    with anyio.fail_after(20):
        info = await supervisor.create_call(customer_number=CUSTOMER, assistant_id="asst-1")
        assert (await supervisor.wait_for_event(info.call_id, types=["listen.connected"], after_seq=0)).matched
        await wait_for_status(supervisor, info.call_id, "in-progress")  # the socket opens before: not live yet
        stopped = supervisor.stop_listening(info.call_id)
        assert not stopped.listening
        while supervisor.info(info.call_id).listen_state != "off":
            await anyio.sleep(0.02)
        started = await supervisor.start_listening(info.call_id)
        assert started.listening and started.detail == "listening"


async def test_leaving_the_runtime_closes_sockets_and_logs(emulator: Emulator, tmp_path: Path) -> None:
    settings = make_settings(emulator, tmp_path / "data")
    with anyio.fail_after(20):
        async with running_supervisor(settings) as sup:
            info = await sup.create_call(customer_number=CUSTOMER, assistant_id="asst-1")
            assert (await sup.wait_for_event(info.call_id, types=["listen.connected"], after_seq=0)).matched
            log = sup.calls[info.call_id].log
        # Outside: the listen socket is gone at the emulator, and the journal holds every event.
        while emulator.view(info.call_id)["listeners"]:
            await anyio.sleep(0.05)
    assert log.read(after_seq=0, limit=1000).events[0].type == "call.status"


async def test_nothing_is_kept_running_for_finished_calls(supervisor: CallSupervisor) -> None:
    with anyio.fail_after(30):
        listened = (await supervisor.create_call(customer_number=CUSTOMER, assistant_id="a")).call_id
        silent = (await supervisor.create_call(customer_number=CUSTOMER, assistant_id="a", listen=False)).call_id
        assert supervisor.background_calls == 2
        for call_id in (listened, silent):
            await wait_for_status(supervisor, call_id, "in-progress")
            await supervisor.end_call(call_id)
        assert (await supervisor.wait_for_event(listened, types=["listen.closed"], after_seq=0)).matched
        await wait_for_status(supervisor, silent, "ended")
        while supervisor.background_calls:  # pollers and sessions drop their records as they finish
            await anyio.sleep(0.05)


ROGUE_ASSISTANT = {
    "name": "rogue",
    "forwardingPhoneNumber": "+19995550000",
    "model": {
        "provider": "openai",
        "model": "gpt-4o",
        "tools": [{"type": "transferCall", "destinations": [{"type": "number", "number": "+19995550000"}]}],
    },
}


async def test_transient_assistants_cannot_bypass_the_transfer_allowlist(emulator: Emulator, tmp_path: Path) -> None:
    """Issue 8, defect 3: every destination a call can be sent to passes the policy, or nothing is sent."""
    settings = make_settings(emulator, tmp_path / "data", transfer_allowlist=("+1415555*",))
    with anyio.fail_after(20):
        async with running_supervisor(settings) as sup:
            before = len(emulator.calls)
            with pytest.raises(TransferNotAllowed, match=r"assistant\.(forwardingPhoneNumber|model)"):
                await sup.create_call(customer_number=CUSTOMER, assistant=ROGUE_ASSISTANT, listen=False)
            assert len(emulator.calls) == before, "no call was placed"
            call_id = (await sup.create_call(customer_number=CUSTOMER, assistant_id="a", listen=False)).call_id
            await wait_for_status(sup, call_id, "in-progress")
            with pytest.raises(TransferNotAllowed):
                await sup.handoff(call_id, assistant=ROGUE_ASSISTANT)
            assert emulator.control_log(call_id) == [], "nothing reached the control URL"
            allowed = {**ROGUE_ASSISTANT, "forwardingPhoneNumber": "+14155550100", "model": {"provider": "openai"}}
            result = await sup.handoff(call_id, assistant=allowed)
            assert result.type == "handoff" and len(emulator.control_log(call_id)) == 1


async def test_a_squad_call_carries_its_monitor_plan_in_squad_overrides(
    supervisor: CallSupervisor, emulator: Emulator
) -> None:
    """Vapi applies assistantOverrides to an assistant; a squad gets monitoring only through squadOverrides."""
    with anyio.fail_after(15):
        info = await supervisor.create_call(customer_number=CUSTOMER, squad_id="squad-1", listen=False)
    body = emulator.calls[info.call_id].body
    assert body["squadId"] == "squad-1" and "assistantOverrides" not in body
    assert body["squadOverrides"]["monitorPlan"]["listenEnabled"] is True
    assert body["squadOverrides"]["monitorPlan"]["controlEnabled"] is True
    assert info.control_available and info.listen_available, "the emulator, like Vapi, gave it monitor URLs"
