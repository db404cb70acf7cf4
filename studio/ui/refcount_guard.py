"""A guard against a PySide6 6.12 refcount bug on Python 3.11: wrapped calls release references to None, True and
False that they never took. Measured: 100 `QApplication.processEvents()` calls, None's count -99; with the main
window shown (pyqtgraph plots on every panel), 300 calls cost True 107 and False 4 references as well. On 3.11
these singletons are not immortal, so a long session or test run ends in "Fatal Python error: none_dealloc" (or
"bool_dealloc"). Raising their counts once, by references nobody ever releases, gives them room (a list holding
them would release them at exit and crash there instead). Remove when the pinned PySide6 is fixed."""

from __future__ import annotations

import ctypes
import sys


def pad_none_refcount(references: int = 1_000_000) -> None:
    """Add `references` to the reference counts of None, True and False, never to be released."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":  # immortal from 3.12
        return
    for singleton in (None, True, False):
        count = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt, the first field of every CPython object
        count.value += references
