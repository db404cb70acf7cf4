"""What the window's start-up imports: pyqtgraph without NVIDIA's cuda.bindings (80 ms it never uses), which torch
can still import afterwards (studio/ui/__init__.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


@pytest.mark.skipif(importlib.util.find_spec("cuda") is None, reason="cuda.bindings is not installed here")
def test_pyqtgraph_comes_without_cuda_bindings_which_stay_importable() -> None:
    code = ("import sys; import studio.ui; import pyqtgraph.widgets.RawImageWidget as raw; "
            "assert 'cuda.bindings.runtime' not in sys.modules and raw.cudart is None; "
            "from cuda.bindings import runtime; print(runtime.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "cuda.bindings.runtime"
