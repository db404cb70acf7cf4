"""The times the panels show: tenths cut down as a clock does, never a tenth short through binary rounding."""

from __future__ import annotations

import pytest

from studio.ui.widgets import fmt_time


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.0, "0:00.0"), (-3.0, "0:00.0"), (1.2, "0:01.2"), (2.3, "0:02.3"), (1.96, "0:01.9"), (59.99, "0:59.9"),
    (60.0, "1:00.0"), (3599.95, "59:59.9"), (3600.0, "1:00:00.0"), (3723.4, "1:02:03.4"),
])
def test_fmt_time(seconds: float, shown: str) -> None:
    assert fmt_time(seconds) == shown
