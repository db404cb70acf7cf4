"""One array of an .npz read with its header checked before its data: numpy would allocate whatever shape a
hostile header declares (terabytes), and would unpickle object arrays. Shared by code files (VALL-E X presets in
the Codec panel) and voice files."""

from __future__ import annotations

import math
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Callable

import numpy as np

# what reading a damaged archive or .npy header raises, besides our own errors
NPZ_ERRORS = (ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
              struct.error, KeyError, UnicodeDecodeError, SyntaxError, TypeError, OverflowError,
              tokenize.TokenError)  # numpy parses the header dict with the tokenizer: an unclosed brace


def read_member(zf: zipfile.ZipFile, key: str, check: Callable[[tuple[int, ...], np.dtype], None],
                fail: Callable[[str], Exception]) -> np.ndarray | None:
    """The array `key` (None when absent). `check(shape, dtype)` may raise before any data is read; `fail(what)`
    makes the error for a damaged member."""
    member = f"{key}.npy"
    if member not in zf.namelist():
        return None
    info = zf.getinfo(member)
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise fail(f"{key} is stored in numpy format version {version}, expected 1.0 or 2.0")
        if dtype.hasobject:
            raise fail(f"{key} holds Python objects (pickled data), which Voice Studio never loads")
        check(shape, dtype)
        size = math.prod(shape) * dtype.itemsize
        if size > info.file_size:
            raise fail(f"{key} declares {size} bytes of data but the file holds {info.file_size}")
        raw = fp.read(size)
        if len(raw) != size:
            raise fail(f"{key} is truncated")
    array = np.frombuffer(raw, dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
