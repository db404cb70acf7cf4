"""Qt widgets. Nothing here imports torch: heavy work goes to the worker as engine functions."""

from __future__ import annotations

import sys


def _import_pyqtgraph_without_cuda() -> None:
    """pyqtgraph's RawImageWidget imports NVIDIA's cuda.bindings where it is installed (the CUDA build of torch
    brings it), for CUDA-OpenGL interop the studio never uses: 80 ms of every start-up (Zen 3, -X importtime).
    It is hidden during pyqtgraph's import only, so torch can still import it later."""
    key = "cuda.bindings.runtime"
    if "pyqtgraph" in sys.modules or key in sys.modules:
        return
    sys.modules[key] = None  # type: ignore[assignment]  # an import of it raises ImportError, which pyqtgraph expects
    try:
        import pyqtgraph  # noqa: F401
    finally:
        if sys.modules.get(key, False) is None:
            del sys.modules[key]


_import_pyqtgraph_without_cuda()
