"""k-means and codebook files: clusters recovered on constructed data, a saved and loaded codebook gives the same
units, and files that are not a codebook (or belong to another model or layer) are refused with a message."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.engine.units.codebook import Codebook, load_codebook, save_codebook
from studio.engine.units.kmeans import fit_kmeans, nearest
from studio.engine.units.result import UnitsResult
from studio.engine.units.units import assign
from studio.errors import JobCancelled, StudioError


def _blobs(n_per: int, k: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(k, dim, generator=g) * 6
    labels = torch.arange(k).repeat_interleave(n_per)
    x = means[labels] + torch.randn(k * n_per, dim, generator=g)
    perm = torch.randperm(x.shape[0], generator=g)
    return x[perm], labels[perm]


def _recovered(found: torch.Tensor, truth: torch.Tensor, k: int) -> float:
    """Share of points whose found cluster's majority true label is their own label (1.0: a perfect matching)."""
    hits = 0
    for c in range(k):
        members = truth[found == c]
        if members.numel():
            hits += int((members == members.mode().values).sum())
    return hits / truth.numel()


@pytest.mark.parametrize("n_per", [60, 2_000])  # one batch (Lloyd) and mini-batches (20,000 points)
def test_recovers_constructed_clusters(n_per: int) -> None:
    x, truth = _blobs(n_per, 10, 16, seed=5)
    centers = fit_kmeans(x, 10, seed=0)
    found, _ = nearest(x, centers)
    assert _recovered(found, truth, 10) > 0.99
    assert len(torch.unique(found)) == 10


def test_same_seed_same_codebook_and_progress_and_cancel() -> None:
    x, _ = _blobs(300, 8, 4, seed=1)
    seen: list[float] = []
    a = fit_kmeans(x, 8, seed=3, batch=512, progress=seen.append)
    assert torch.equal(a, fit_kmeans(x, 8, seed=3, batch=512))
    assert seen and seen == sorted(seen) and 0 < seen[-1] <= 1
    stop = threading.Event()
    stop.set()
    with pytest.raises(JobCancelled):
        fit_kmeans(x, 8, cancel=stop)


def test_more_units_than_frames_or_bad_values_are_refused() -> None:
    with pytest.raises(StudioError, match="12 frames of features, fewer than the 100 units"):
        fit_kmeans(torch.randn(12, 4), 100)
    bad = torch.randn(50, 4)
    bad[3, 1] = float("nan")
    with pytest.raises(StudioError, match="NaN"):
        fit_kmeans(bad, 4)


def test_identical_frames_still_give_k_centres() -> None:
    """Silence: every frame the same. k-means++ must not divide by a zero total."""
    centers = fit_kmeans(torch.ones(40, 3), 5)
    assert centers.shape == (5, 3) and torch.isfinite(centers).all()


def test_saved_and_loaded_codebook_gives_identical_units(tmp_path: Path) -> None:
    x, _ = _blobs(100, 6, 8, seed=2)
    cb = Codebook(fit_kmeans(x, 6).numpy(), "hubert-base", 6)
    npy, meta = save_codebook(cb, tmp_path / "km6")
    assert (npy.name, meta.name) == ("km6.npy", "km6.json")
    for name in ("km6", "km6.npy", "km6.json"):
        back = load_codebook(tmp_path / name)
        assert (back.model, back.layer, back.k, back.dim) == ("hubert-base", 6, 6, 8)
        assert np.array_equal(assign(x, back), assign(x, cb))
    assert json.loads(meta.read_text())["k"] == 6


def test_codebook_for_another_model_or_layer_is_refused(tmp_path: Path) -> None:
    cb = Codebook(np.zeros((4, 768), np.float32), "hubert-base", 6)
    with pytest.raises(StudioError, match="fitted on hubert-base layer 6, not hubert-base layer 9"):
        cb.check_fits("hubert-base", 9, 768)
    with pytest.raises(StudioError, match="not wav2vec2-base layer 6"):
        cb.check_fits("wav2vec2-base", 6, 768)
    with pytest.raises(StudioError, match="768-dimensional centres"):
        cb.check_fits("hubert-large", 6, 1024)


def test_damaged_codebook_files_are_refused(tmp_path: Path) -> None:
    save_codebook(Codebook(np.ones((3, 2), np.float32), "m", 1), tmp_path / "cb")
    with pytest.raises(StudioError, match="does not exist"):
        load_codebook(tmp_path / "other.npy")
    (tmp_path / "cb.npy").write_bytes(b"garbage")
    with pytest.raises(StudioError, match="not a readable codebook"):
        load_codebook(tmp_path / "cb.npy")
    save_codebook(Codebook(np.ones((3, 2), np.float32), "m", 1), tmp_path / "cb")
    meta = json.loads((tmp_path / "cb.json").read_text())
    (tmp_path / "cb.json").write_text(json.dumps({**meta, "k": 7}))
    with pytest.raises(StudioError, match="not the k = 7 centres"):
        load_codebook(tmp_path / "cb")
    (tmp_path / "cb.json").write_text(json.dumps({"something": "else"}))
    with pytest.raises(StudioError, match="not a Voice Studio codebook"):
        load_codebook(tmp_path / "cb")
    np.save(tmp_path / "cb.npy", np.full((3, 2), np.inf, np.float32))
    (tmp_path / "cb.json").write_text(json.dumps(meta))
    with pytest.raises(StudioError, match="NaN or infinite"):
        load_codebook(tmp_path / "cb")


def test_runs_and_histogram() -> None:
    r = UnitsResult(np.array([3, 3, 1, 1, 1, 3, 0], np.int32), 50.0, 5, "m", 6, 0.14)
    assert [(x.unit, x.first_frame, x.frames) for x in r.runs()] == [(3, 0, 2), (1, 2, 3), (3, 5, 1), (0, 6, 1)]
    assert r.histogram().tolist() == [1, 3, 0, 3, 0]
    assert r.seconds(5) == pytest.approx(0.1)
    assert UnitsResult(np.zeros(0, np.int32), 50.0, 2, "m", 6, 0.0).runs() == []


@pytest.mark.parametrize("n_per", [400, 2_500])  # Lloyd (4,800 frames) and mini-batches (30,000)
def test_inertia_as_low_as_scikit_learns(n_per: int) -> None:
    """Overlapping clusters (centres 2 sd apart), where seeding and local optima decide the result: our inertia
    within 2 % of scikit-learn's KMeans / MiniBatchKMeans (their defaults, three seedings)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    g = torch.Generator().manual_seed(11)
    means = torch.randn(12, 24, generator=g) * 2
    x = means[torch.arange(12).repeat_interleave(n_per)] + torch.randn(12 * n_per, 24, generator=g)

    def inertia(centers: np.ndarray) -> float:
        return float(nearest(x, torch.from_numpy(np.asarray(centers, np.float32)))[1].sum())

    ref_cls = KMeans(12, n_init=3, random_state=0) if n_per == 400 else MiniBatchKMeans(
        12, n_init=3, random_state=0, batch_size=10_240)
    ref = inertia(ref_cls.fit(x.numpy()).cluster_centers_)
    ours = inertia(fit_kmeans(x, 12).numpy())
    assert ours <= 1.02 * ref, (ours, ref)
