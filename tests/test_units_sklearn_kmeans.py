"""textless-lib / fairseq k-means files (scikit-learn estimators saved by joblib) read without running the pickle:
the centres of real joblib.dump files come back exactly; anything that asks for other code is refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from studio.engine.units.sklearn_kmeans import read_sklearn_centers
from studio.errors import StudioError


@pytest.fixture(scope="module")
def fitted() -> object:
    from sklearn.cluster import MiniBatchKMeans

    x = np.random.default_rng(0).normal(size=(500, 12)).astype(np.float32)
    return MiniBatchKMeans(7, n_init=3, random_state=0).fit(x)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_joblib_files_give_the_centres(fitted: object, tmp_path: Path, protocol: int) -> None:
    import joblib

    path = tmp_path / "km.bin"
    joblib.dump(fitted, path, protocol=protocol)
    got = read_sklearn_centers(path)
    assert got.dtype == np.float32 and np.array_equal(got, fitted.cluster_centers_.astype(np.float32))


def test_plain_pickles_and_float64_centres(fitted: object, tmp_path: Path) -> None:
    from sklearn.cluster import KMeans

    km = KMeans(3, n_init=1, random_state=0).fit(np.random.default_rng(1).normal(size=(40, 5)))  # float64
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(km))
    assert np.allclose(read_sklearn_centers(path), km.cluster_centers_)


def test_code_in_the_pickle_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            import os

            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "km.bin"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(StudioError, match="posix.system|os.system|nt.system"):
        read_sklearn_centers(path)
    assert not (tmp_path / "pwned").exists()


def test_other_files_get_a_message(fitted: object, tmp_path: Path) -> None:
    import joblib

    cases = {"compressed": None, "garbage": b"\x80\x04 not really a pickle", "text": b"hello\n",
             "empty": b"", "list": pickle.dumps([1, 2, 3])}
    joblib.dump(fitted, tmp_path / "compressed", compress=3)
    for name, data in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(StudioError) as e:
            read_sklearn_centers(path)
        assert name in e.value.message or "compressed" in e.value.message
    joblib.dump(fitted, tmp_path / "ok.bin")
    raw = (tmp_path / "ok.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(StudioError, match="cut.bin"):
        read_sklearn_centers(tmp_path / "cut.bin")
