"""The public pretrained k-means quantizers of textless-lib / fairseq (`km.bin`: a scikit-learn MiniBatchKMeans
saved with joblib.dump) read without running the pickle.

A pickle can call anything; these files come from the internet. So no scikit-learn or joblib code runs here: an
unpickler that resolves only the handful of names such a file uses (the estimator class, joblib's array
placeholder, numpy's dtype and array rebuilders) to stand-ins, and reads the arrays joblib writes raw after each
placeholder (its format: an optional padding-length byte and padding, then the array's bytes). Anything else in
the file is refused with a message. Only `cluster_centers_` is kept.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import StudioError

_ESTIMATORS = {("sklearn.cluster._kmeans", "MiniBatchKMeans"), ("sklearn.cluster._kmeans", "KMeans"),
               ("sklearn.cluster.k_means_", "MiniBatchKMeans"), ("sklearn.cluster.k_means_", "KMeans")}
_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
_COMPRESSED = (b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x5d\x00\x00", b"\x04\x22\x4d\x18", b"ZF")
MAX_BYTES = 1 << 30  # centres of k = 2000 x 1280 dims are 20 MB: a larger "array" is not a k-means file


def _multiarray() -> Any:
    try:
        from numpy._core import multiarray  # numpy 2
    except ImportError:
        from numpy.core import multiarray  # type: ignore[no-redef]
    return multiarray


class _Estimator:
    """Stands in for the scikit-learn estimator: keeps its attributes, runs nothing."""

    def __setstate__(self, state: object) -> None:
        self.state = state if isinstance(state, dict) else {}


class _ArrayWrapper:
    """Stands in for joblib's NumpyArrayWrapper: what it says about the raw array that follows it."""

    def __setstate__(self, state: object) -> None:
        self.state = state if isinstance(state, dict) else {}


class _Unpickler(pickle._Unpickler):  # the Python unpickler: its BUILD step can be extended, as joblib does
    def __init__(self, f: io.BufferedIOBase) -> None:
        super().__init__(f)
        self.file_handle = f

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ESTIMATORS:
            return _Estimator
        if (module, name) == _WRAPPER:
            return _ArrayWrapper
        if module == "numpy" and name in ("dtype", "ndarray"):
            return getattr(np, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
            return getattr(_multiarray(), name)
        if (module, name) in (("copyreg", "_reconstructor"), ("builtins", "object")):
            import copyreg

            return copyreg._reconstructor if name == "_reconstructor" else object
        raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a k-means file does not need")

    def load_build(self) -> None:
        super().load_build()
        top = self.stack[-1]
        if isinstance(top, _ArrayWrapper):
            self.stack[-1] = self._read_array(top.state)

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build

    def _read_array(self, info: dict) -> np.ndarray:
        dtype, shape, order = info.get("dtype"), info.get("shape"), info.get("order", "C")
        if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(shape, tuple):
            raise pickle.UnpicklingError("an array placeholder without a plain numeric type")
        count = int(np.prod([int(s) for s in shape], dtype=np.int64)) if shape else 1
        if count < 0 or count * dtype.itemsize > MAX_BYTES:
            raise pickle.UnpicklingError(f"an array of {count} values, far more than k-means centres")
        if info.get("numpy_array_alignment_bytes") is not None:
            pad = self.file_handle.read(1)
            self.file_handle.read(int.from_bytes(pad, "little"))
        data = self.file_handle.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise pickle.UnpicklingError("the file ends inside an array")
        array = np.frombuffer(data, dtype=dtype, count=count)
        return array.reshape(shape[::-1]).T if order == "F" else array.reshape(shape)


def read_sklearn_centers(path: str | Path) -> np.ndarray:
    """(k, dim) float32 cluster centres of a joblib-saved scikit-learn (MiniBatch)KMeans."""
    path = Path(path)
    remedy = ("Use a textless-lib / fairseq km.bin (a scikit-learn k-means saved with joblib.dump, uncompressed), "
              "or a codebook saved by Voice Studio (.npy + .json).")
    try:
        raw = path.read_bytes()
    except OSError as e:
        from studio.outputs import describe_os_error

        raise describe_os_error(e, path, "read") from e
    if any(raw.startswith(m) for m in _COMPRESSED) and not raw.startswith(b"\x80"):
        raise StudioError(f"'{path.name}' is compressed; Voice Studio reads uncompressed joblib k-means files.",
                          "Save it again with joblib.dump(model, path) (no compress=), or fit a codebook here.")
    try:
        obj = _Unpickler(io.BytesIO(raw)).load()
    except Exception as e:  # any failure of an untrusted stream (struct.error, MemoryError, ...) means "not one"
        raise StudioError(f"'{path.name}' is not a k-means file Voice Studio reads ({str(e)[:160]}).", remedy) from e
    centers = obj.state.get("cluster_centers_") if isinstance(obj, _Estimator) else None
    if not isinstance(centers, np.ndarray) or centers.ndim != 2 or centers.dtype.kind != "f" or not len(centers):
        raise StudioError(f"'{path.name}' holds no k-means cluster centres.", remedy)
    if not np.isfinite(centers).all():
        raise StudioError(f"'{path.name}' holds NaN or infinite centres.", remedy)
    return np.array(centers, dtype=np.float32, order="C")  # a copy: frombuffer's arrays are read-only
