"""Reader for CTranslate2 `model.bin` files (the format faster-whisper uses), without the ctranslate2 package.

Layout: uint32 version, spec name, uint32 revision, uint32 count, then per variable: name, uint8 rank, uint32 dims,
uint8 dtype, uint32 byte count, raw bytes; then uint32 alias count and (alias, target) name pairs.
Strings are uint16 length (including a trailing NUL) + UTF-8 bytes.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from studio.errors import StudioError

_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16)  # order of ctranslate2's DataType enum
_BFLOAT16 = 5


class CheckpointError(StudioError):
    pass


@dataclass
class CT2Model:
    spec: str
    revision: int
    variables: dict[str, np.ndarray]

    def scalar(self, name: str, default: int = 0) -> int:
        value = self.variables.get(name)
        return default if value is None else int(value.reshape(-1)[0])


class _Reader:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.take("H")
        text = bytes(self.data[self.pos: self.pos + n - 1]).decode("utf-8")
        self.pos += n
        return text

    def raw(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise struct.error("unexpected end of file")
        chunk = self.data[self.pos: self.pos + n]
        self.pos += n
        return chunk


def read_ct2_model(path: str | os.PathLike) -> CT2Model:
    """All variables of a model.bin as numpy arrays (aliases resolved to the same array)."""
    try:
        with open(path, "rb") as f:
            data = memoryview(f.read())
    except OSError as e:
        from studio.outputs import describe_os_error

        raise describe_os_error(e, path, "read") from e
    if len(data) == 0:
        raise CheckpointError(f"{os.fspath(path)} is empty (0 bytes).", "Download or convert the model again.")
    r = _Reader(data)
    try:
        version = r.take("I")
        if not 2 <= version <= 6:
            raise CheckpointError(f"{os.fspath(path)} is not a CTranslate2 model (format version {version}).",
                                  "Pick the model.bin of a faster-whisper / CTranslate2 model folder.")
        spec = r.string()
        revision = r.take("I")
        variables: dict[str, np.ndarray] = {}
        for _ in range(r.take("I")):
            name = r.string()
            shape = tuple(r.take("I") for _ in range(r.take("B")))
            dtype_id = r.take("B")
            raw = r.raw(r.take("I"))
            if dtype_id == _BFLOAT16:  # numpy has no bfloat16: widen the upper half of float32
                arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(raw, _DTYPES[dtype_id])
            variables[name] = arr.reshape(shape)
        for _ in range(r.take("I")):
            alias, target = r.string(), r.string()
            variables[alias] = variables[target]
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{os.fspath(path)} is damaged or truncated ({e}).",
                              "Download or convert the model again.") from e
    return CT2Model(spec, revision, variables)
