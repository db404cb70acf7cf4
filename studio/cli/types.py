"""argparse `type=` helpers that check ranges, so a bad option is refused before any work.

argparse turns the `ArgumentTypeError` raised here into `studio CMD: error: argument --opt: MESSAGE` on stderr
and exit status 2, no traceback; each message states the allowed range so the user can fix the value.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable


def _fmt(x: float) -> str:
    return f"{x:g}"


def int_range(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An integer in [lo, hi] (either bound may be None: unbounded)."""
    if lo is not None and hi is not None:
        allowed = f"an integer from {lo} to {hi}"
    elif lo is not None:
        allowed = f"an integer >= {lo}"
    elif hi is not None:
        allowed = f"an integer <= {hi}"
    else:
        allowed = "an integer"

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {allowed}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is out of range: use {allowed}")
        return value

    parse.__name__ = "int"  # argparse names the type in some of its own messages
    return parse


def float_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                hi_open: bool = False) -> Callable[[str], float]:
    """A finite number in the range: [lo, hi] by default, `lo_open`/`hi_open` exclude a bound."""
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {_fmt(lo)}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {_fmt(hi)}")
    if lo is not None and hi is not None and not lo_open and not hi_open:
        allowed = f"a number from {_fmt(lo)} to {_fmt(hi)}"
    else:
        allowed = "a number" + (" " + " and ".join(parts) if parts else "")

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {allowed}") from None
        if not math.isfinite(value):  # nan slips through every comparison below
            raise argparse.ArgumentTypeError(f"'{text}' is not {allowed}")
        if lo is not None and (value < lo or (lo_open and value == lo)):
            raise argparse.ArgumentTypeError(f"{_fmt(value)} is out of range: use {allowed}")
        if hi is not None and (value > hi or (hi_open and value == hi)):
            raise argparse.ArgumentTypeError(f"{_fmt(value)} is out of range: use {allowed}")
        return value

    parse.__name__ = "float"
    return parse


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return float_range(0.0, lo_open=True)(text)


MAX_THREADS = max(1, (os.cpu_count() or 1) * 4)  # more threads than this only thrash (100000 crashed torch)
