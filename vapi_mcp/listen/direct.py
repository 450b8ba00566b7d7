"""DirectConnection: a websockets client connection that hands each message to a sink as it arrives.

Messages do not go through ``recv()``: at ~50 messages per second per call, websockets' message queue (a
future and a task switch per message) costs more than everything we do with a frame but the analysis.
:class:`DirectConnection`, the ``create_connection`` factory that ``connect()`` offers for customising
connection handling, hands every complete data message to a sink from the protocol callback, in arrival
order (a fragmented message is joined in place, so it keeps its place too).

Most of what websockets still costs per message is its frame parser, a generator reading a few bytes at a
time. Vapi's audio arrives as a steady run of small, complete, unmasked binary frames, so while the
connection is open and websockets' parser waits at a frame boundary with nothing buffered,
:meth:`DirectConnection.data_received` reads those frames itself: a header of 2 to 10 bytes, then the
payload, handed to the sink. Anything else — a ping, a close, a fragment, a reserved bit, a masked or
oversized frame, an unknown opcode — is handed to websockets as whole frames, or, when websockets must
fail the connection or finish the close handshake, with every byte after it. websockets thus only ever
sees whole frames while the fast path runs, and stays at a frame boundary: it still does the handshake,
pings, the limits (an oversized frame is its to refuse), protocol errors and the close handshake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State
from websockets.streams import StreamReader

__all__ = ["DirectConnection"]

_DATA = frozenset({Opcode.BINARY, Opcode.TEXT, Opcode.CONT})
_PARSE = Protocol.parse.__code__
_FRAME_PARSE = Frame.parse.__func__.__code__
_AT_EOF = StreamReader.at_eof.__code__
_READ_EXACT = StreamReader.read_exact.__code__
_HELD_MAX = 1 << 16
"""A frame that has not fully arrived is held back by the fast path up to this size; a bigger one is
websockets' to assemble (holding it here would copy it again with every read)."""


class DirectConnection(ClientConnection):
    """A client connection that hands each complete message to a sink instead of queueing it for ``recv()``.

    Frames that arrive before :meth:`attach` (the handshake's packet may carry the first audio) are held in
    order and replayed by it, so the session can record the connection before any of its audio. Binary
    messages reach ``audio`` as ``bytes``; text messages reach ``text`` as their raw payload, which the
    pipeline decodes (``recv()`` would raise on invalid UTF-8 and websockets would close the socket with
    1007; here it is one malformed frame, counted, like any other). An exception from a sink fails the
    connection (1011) and is kept in :attr:`sink_error` for the session: the protocol callback must not raise.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink_error: Exception | None = None
        self._on_audio: Callable[[bytes], None] | None = None
        self._on_text: Callable[[bytes], None] | None = None
        self._early: list[Frame] | None = []
        self._fragments: list[bytes] = []  # of the message being received in parts, if any
        self._fragmented_text = False
        self._held = b""  # the start of a frame the fast path is waiting for; websockets has none of it

    def attach(self, *, audio: Callable[[bytes], None], text: Callable[[bytes], None]) -> None:
        early, self._early = self._early or [], None
        self._on_audio, self._on_text = audio, text
        for frame in early:
            self._deliver(frame)

    # ------------------------------------------------------------------ websockets' parser, for the rest
    def process_event(self, event: Any) -> None:
        if self.response is not None and type(event) is Frame and event.opcode in _DATA:
            if self._early is None:
                self._deliver(event)
            else:
                self._early.append(event)
            return
        super().process_event(event)  # the handshake response, pings, pongs, close

    def _deliver(self, frame: Frame) -> None:
        if self.sink_error is not None:
            return
        data = frame.data if type(frame.data) is bytes else bytes(frame.data)
        opcode = frame.opcode
        if opcode is Opcode.CONT or not frame.fin:
            # websockets' protocol has checked the fragment sequence and caps the whole message at max_size.
            if opcode is not Opcode.CONT:
                self._fragments, self._fragmented_text = [], opcode is Opcode.TEXT
            self._fragments.append(data)
            if not frame.fin:
                return
            data, self._fragments = b"".join(self._fragments), []
            opcode = Opcode.TEXT if self._fragmented_text else Opcode.BINARY
        self._sink(data, opcode is Opcode.BINARY)

    def _sink(self, data: bytes, binary: bool) -> bool:
        """Hand one message to its sink; ``False`` if the sink failed (the connection is then failing)."""
        if self._early is not None:  # read by the fast path before attach(): held like websockets' frames
            self._early.append(Frame(Opcode.BINARY if binary else Opcode.TEXT, data))
            return True
        try:
            if binary:
                self._on_audio(data)  # type: ignore[misc]
            else:
                self._on_text(data)  # type: ignore[misc]
        except Exception as exc:
            self.sink_error = exc
            self.protocol.fail(1011, "internal error")
            self.send_data()
            self.transport.close()
            return False
        return True

    # ------------------------------------------------------------------ the fast path
    def data_received(self, data: bytes) -> None:
        if self._held:
            data, self._held = self._held + data, b""
        elif not self._fast_ready():
            super().data_received(data)
            return
        else:
            data = self._catch_up(data if type(data) is bytes else bytes(data))
        if data:
            rest = self._read_frames(data)
            if rest:
                super().data_received(rest)

    def eof_received(self) -> None:
        if self._held:  # a frame cut short: websockets reports the truncated stream, as it would have
            held, self._held = self._held, b""
            super().data_received(held)
        super().eof_received()

    def _fast_ready(self) -> bool:
        """Open, no fragmented message, no extension and no failure: frames may be read here."""
        protocol = self.protocol
        return (
            self.sink_error is None
            and protocol.state is State.OPEN
            and getattr(protocol, "current_size", getattr(protocol, "cur_size", 0)) is None  # 17 / 15-16 names
            and not protocol.extensions
        )

    def _catch_up(self, data: bytes) -> bytes:
        """Hand websockets the bytes that finish the frame it is reading, if it is inside one (the handshake's
        packet, or a frame it had to assemble, may have left it there); the rest is the fast path's, from a
        frame boundary (none if websockets took it all)."""
        while True:
            need = self._to_boundary()
            if need == 0:
                return data
            if need is None or need >= len(data):
                super().data_received(data)
                return b""
            super().data_received(data[:need])
            data = data[need:]
            if not self._fast_ready():
                super().data_received(data)
                return b""

    def _to_boundary(self) -> int | None:
        """0 if websockets' parser waits for the start of a frame with nothing buffered; the bytes that complete
        its current read if it is inside a frame; ``None`` if it is anywhere else (then it gets every byte)."""
        protocol = self.protocol
        chain: list[Any] = []
        generator: Any = protocol.parser  # ClientProtocol.parse > Protocol.parse > Frame.parse > StreamReader.*
        while generator is not None:
            chain.append(generator)
            generator = getattr(generator, "gi_yieldfrom", None)
        codes = [getattr(g, "gi_code", None) for g in chain]
        if _PARSE not in codes[:-1]:
            return None
        buffered = len(protocol.reader.buffer)
        if codes[-1] is _AT_EOF:  # suspended there only with nothing buffered
            return 0
        if codes[-1] is _READ_EXACT and codes[-2] is _FRAME_PARSE:
            frame = getattr(chain[-1], "gi_frame", None)
            wanted = frame.f_locals.get("n") if frame is not None else None
            if type(wanted) is int and wanted > buffered:
                return wanted - buffered
        return None

    def _read_frames(self, data: bytes) -> bytes:
        """Deliver the complete, unfragmented, unmasked text and binary frames at the start of ``data``;
        returns the bytes websockets must parse (none when every frame was read here or is held)."""
        limit = self._size_limit()
        end, size = 0, len(data)
        while size - end >= 2:
            pos = end
            head = data[pos]
            if data[pos + 1] & 0x80 or head & 0x70:  # masked by the server, or a reserved bit: websockets fails it
                return data[pos:]
            start, length = _frame_header(data, pos, size)
            if start > size:
                break
            if limit is not None and length > limit:  # websockets refuses it (1009)
                return data[pos:]
            end = start + length
            if end > size:
                end = pos
                if length > _HELD_MAX:  # websockets assembles it; the fast path resumes after it
                    return data[pos:]
                break
            opcode = head & 0x0F
            if head & 0x80 and (opcode == 2 or opcode == 1):  # a whole binary or text message
                if not self._sink(data[start:end], opcode == 2):
                    return b""  # failing: the rest is never read
            elif not self._to_websockets(data[pos:end]):  # a fragmented message began, a close, a failure
                return data[end:]
        if end < size:
            self._held = data[end:]
        return b""

    def _to_websockets(self, frame: bytes) -> bool:
        """A control frame, a fragment or an unknown opcode, whole: websockets handles it as it would have.
        Returns whether the fast path may go on after it."""
        super().data_received(frame)
        return self._fast_ready() and self._to_boundary() == 0

    def _size_limit(self) -> int | None:
        """websockets' limit on a frame that is a whole message (``max_size``: named so before websockets 17)."""
        protocol: Any = self.protocol
        limit: int | None = protocol.max_message_size if hasattr(protocol, "max_message_size") else protocol.max_size
        fragment: int | None = getattr(protocol, "max_fragment_size", None)
        if fragment is not None:
            limit = fragment if limit is None else min(limit, fragment)
        return limit


def _frame_header(data: bytes, pos: int, size: int) -> tuple[int, int]:
    """The payload's start and length of the frame at ``pos``; a start beyond ``size`` if the header is cut."""
    length = data[pos + 1] & 0x7F
    if length < 126:
        return pos + 2, length
    start = pos + (4 if length == 126 else 10)
    if start > size:
        return start, 0
    return start, int.from_bytes(data[pos + 2 : start], "big")
