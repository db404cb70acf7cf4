"""Messages between the window and its model process: pickled tuples, each behind an 8-byte length.

A length prefix lets the reader take a whole message in one read (the GIL is free while it waits) and unpickle it
in one call, instead of the many small reads `pickle.load` makes on a stream."""

from __future__ import annotations

import pickle
import struct
import threading
from typing import Any, BinaryIO

_LENGTH = struct.Struct("<Q")


class FrameWriter:
    """Writes whole messages; safe to call from several threads."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, message: tuple) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._stream.write(_LENGTH.pack(len(data)))
            self._stream.write(data)
            self._stream.flush()

    def close(self) -> None:
        with self._lock:
            self._stream.close()


def read_frame(stream: BinaryIO) -> Any:
    """The next message, or None at the end of the stream (the other side has gone)."""
    head = _read_exactly(stream, _LENGTH.size)
    if head is None:
        return None
    data = _read_exactly(stream, _LENGTH.unpack(head)[0])
    if data is None:
        return None
    return pickle.loads(data)


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    parts, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)
