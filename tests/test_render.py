"""studio.engine.render.percentiles: np.percentile's linear method without importing numpy.ma on the window's
thread (a 16 ms stall the first time a take's attention was drawn)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from studio.engine.render import percentiles


@pytest.mark.parametrize("shape", [(1,), (2,), (7, 3), (300, 41), (1000,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_numpy_percentile(shape: tuple[int, ...], dtype: type) -> None:
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(dtype)
    got = percentiles(x, 0, 1, 50, 99.5, 99.7, 100)
    want = [float(np.percentile(x, p)) for p in (0, 1, 50, 99.5, 99.7, 100)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_empty_input_or_a_percent_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentiles(np.zeros((0, 3)), 50)
    with pytest.raises(ValueError, match="0..100"):  # as np.percentile: 995 is not silently 100
        percentiles(np.arange(5.0), 995)


def test_numpy_ma_is_not_imported() -> None:
    code = ("import sys, numpy as np; from studio.engine.render import percentiles; "
            "percentiles(np.arange(10.0), 1, 99); print('numpy.ma' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
