"""A guard against a PySide6 6.12 refcount bug on Python 3.11: `QApplication.processEvents()` (and possibly other
wrapped calls) releases one reference to None per call that it never took (measured: 100 calls, None's count
-99). On 3.11 None is not immortal, so a long session or test run ends in "Fatal Python error: none_dealloc".
Raising None's count once, by references nobody ever releases, gives it room (a list holding them would release
them at exit and crash there instead). Remove when the pinned PySide6 is fixed."""

from __future__ import annotations

import ctypes
import sys


def pad_none_refcount(references: int = 1_000_000) -> None:
    """Add `references` to None's reference count, never to be released."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":  # None is immortal from 3.12
        return
    count = ctypes.c_ssize_t.from_address(id(None))  # ob_refcnt, the first field of every CPython object
    count.value += references
