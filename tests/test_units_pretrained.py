"""textless-lib's pretrained k-means by name (hubert-base-km50 ...): downloaded once from its published address
through the same local servers as tests/test_hub.py (the file is served by the "CDN" there, Range requests and
all), checked against its sha256, cached, used offline; and `studio units --kmeans hubert-base-km50` end to end,
the HuBERT base weights coming from the local "Hub"."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import test_hub
import torch
from test_hub import hub  # noqa: F401  (the fixture: local Hub and CDN, a fresh cache)

from studio.cli.main import main
from studio.engine.units import pretrained
from studio.errors import JobCancelled
from studio.hub.download import DownloadDamagedError, WeightsMissingError
from studio.hub.published import PublishedFile, cached_path

JFK = Path(__file__).parent / "data" / "jfk.flac"


def _km_file(k: int, seed: int = 0) -> tuple[bytes, np.ndarray]:
    """A real joblib-saved MiniBatchKMeans of 768-dimensional data, as textless-lib publishes them."""
    import joblib
    from sklearn.cluster import MiniBatchKMeans

    x = np.random.default_rng(seed).standard_normal((max(4 * k, 400), 768)).astype(np.float32)
    km = MiniBatchKMeans(n_clusters=k, n_init=1, random_state=seed, batch_size=256).fit(x)
    buf = io.BytesIO()
    joblib.dump(km, buf)
    return buf.getvalue(), km.cluster_centers_


def _publish(monkeypatch: pytest.MonkeyPatch, name: str, data: bytes) -> PublishedFile:
    sha = hashlib.sha256(data).hexdigest()
    test_hub.S.repos[f"textless/{name}"] = {"km.bin": data}  # the CDN serves any known file by its sha256
    file = PublishedFile(name, f"{test_hub.S.cdn}/blobs/{sha}", sha, "km.bin")
    monkeypatch.setitem(pretrained.PRETRAINED, name, file)
    return file


def test_downloads_once_then_works_offline(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    data, centres = _km_file(50)
    file = _publish(monkeypatch, "hubert-base-km50", data)
    seen = []
    cb = pretrained.load_pretrained("hubert-base-km50", progress=seen.append)
    assert np.array_equal(cb.centers, centres.astype(np.float32))
    assert (cb.model, cb.layer, cb.k) == ("hubert-base", 6, 50)
    assert cached_path(file) == hub / "voice-studio-downloads" / "hubert-base-km50" / "km.bin"
    assert cached_path(file).read_bytes() == data and seen and seen[-1].done == len(data)
    # one look at its first byte (is the server there?), then the file
    assert [(r.server, r.range) for r in test_hub.S.requests if "/blobs/" in r.path] == [("cdn", "bytes=0-0"),
                                                                                         ("cdn", None)]
    test_hub.S.requests = []
    pretrained.load_pretrained("hubert-base-km50")
    assert not [r for r in test_hub.S.requests if "/blobs/" in r.path]  # from the cache, no transfer
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert pretrained.load_pretrained("hubert-base-km50").k == 50
    _publish(monkeypatch, "hubert-base-km100", _km_file(100)[0])
    with pytest.raises(WeightsMissingError, match="offline") as err:
        pretrained.load_pretrained("hubert-base-km100")
    assert pretrained.PRETRAINED["hubert-base-km100"].url in err.value.remedy


def test_a_damaged_or_missing_download_is_not_kept(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    file = _publish(monkeypatch, "hubert-base-km50", _km_file(50)[0])
    test_hub.S.corrupt = {"km.bin"}
    with pytest.raises(DownloadDamagedError, match="damaged"):
        pretrained.load_pretrained("hubert-base-km50")
    assert not cached_path(file).parent.exists() or not any(cached_path(file).parent.iterdir())
    monkeypatch.setitem(pretrained.PRETRAINED, "hubert-base-km200",
                        PublishedFile("hubert-base-km200", f"{test_hub.S.cdn}/blobs/{'0' * 64}", "0" * 64, "km.bin"))
    with pytest.raises(WeightsMissingError, match="answered HTTP 404") as err:
        pretrained.load_pretrained("hubert-base-km200")
    assert "download" in err.value.remedy and pretrained.PRETRAINED["hubert-base-km200"].url in err.value.remedy


def test_a_cancelled_download_resumes(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    data, centres = _km_file(500)  # 1.5 MB: several chunks
    file = _publish(monkeypatch, "hubert-base-km500", data)
    test_hub.S.delay = 0.01
    cancel = threading.Event()
    with pytest.raises(JobCancelled):
        pretrained.load_pretrained("hubert-base-km500", progress=lambda p: p.done and cancel.set(), cancel=cancel)
    have = cached_path(file).with_name("km.bin.incomplete").stat().st_size
    assert 0 < have < len(data) and not cached_path(file).exists()
    test_hub.S.requests = []
    test_hub.S.delay = 0.0
    cb = pretrained.load_pretrained("hubert-base-km500")
    assert np.array_equal(cb.centers, centres.astype(np.float32))
    assert [r.range for r in test_hub.S.requests if "/blobs/" in r.path] == ["bytes=0-0", f"bytes={have}-"]


def _publish_hubert_base(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[np.ndarray, object]:
    """facebook/hubert-base-ls960 on the local Hub (768 wide like the real one, narrow elsewhere so the test stays
    small), and a hubert-base-km50 fitted on its layer-6 features of jfk: (those features, the k-means)."""
    import joblib
    import transformers
    from sklearn.cluster import MiniBatchKMeans

    from studio.audio.io import load_audio
    from studio.engine.units.features import extract_features
    from studio.hub.hubert_weights import load_encoder

    torch.manual_seed(0)
    transformers.HubertModel(transformers.HubertConfig(
        num_hidden_layers=6, intermediate_size=256, conv_dim=(64,) * 7)).save_pretrained(tmp_path / "hb")
    test_hub.S.repos["facebook/hubert-base-ls960"] = {
        name: (tmp_path / "hb" / name).read_bytes() for name in ("config.json", "model.safetensors")}
    feats = extract_features(load_audio(JFK, 16_000), load_encoder(tmp_path / "hb"), 6)
    km = MiniBatchKMeans(n_clusters=50, n_init=1, random_state=0, batch_size=256).fit(feats)
    buf = io.BytesIO()
    joblib.dump(km, buf)
    _publish(monkeypatch, "hubert-base-km50", buf.getvalue())
    return feats, km


def test_cli_units_with_a_pretrained_codebook(hub: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`studio units JFK --kmeans hubert-base-km50`: the codebook and HuBERT base both come down once; the units
    are the nearest centres of the layer-6 features."""
    from studio.engine.units.kmeans import nearest

    feats, km = _publish_hubert_base(monkeypatch, tmp_path)
    code = main(["units", str(JFK), "--kmeans", "hubert-base-km50"])
    out, err = capsys.readouterr()
    assert code == 0, err
    units = np.array([int(u) for u in out.split()])
    assert units.shape == (549,) and len(set(units.tolist())) > 20
    want = nearest(torch.from_numpy(feats), torch.from_numpy(km.cluster_centers_.astype(np.float32)))[0]
    assert np.array_equal(units, want.numpy())
    # another model's features do not fit it: said, not computed
    code = main(["units", str(JFK), "--kmeans", "hubert-base-km50", "--layer", "3"])
    assert code != 0 and "hubert-base layer 6, not hubert-base layer 3" in capsys.readouterr().err


def test_units_panel_offers_the_pretrained_codebooks(qtbot, window, hub: Path,  # noqa: ANN001, F811
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Picking "textless-lib k = 50" sets and locks HuBERT base, layer 6 and k = 50; Compute downloads both and
    draws the units; one that cannot be downloaded offline is said in the banner."""
    from PySide6.QtCore import Qt

    _publish_hubert_base(monkeypatch, tmp_path)
    panel = window.spectrogram
    window.stack.setCurrentWidget(panel)
    view = panel.units
    panel.open_file(str(JFK))
    labels = [view.codebook.itemText(i) for i in range(view.codebook.count())]
    assert {f"textless-lib k = {k}" for k in (50, 100, 200, 500)} <= set(labels)
    view.layer.setValue(9)
    at = view.codebook.findData("hubert-base-km50")
    view.codebook.setCurrentIndex(at)
    view.codebook.activated.emit(at)
    assert (view.model.currentData(), view.layer.value(), view.k.currentData()) == ("hubert-base", 6, 50)
    assert not (view.model.isEnabled() or view.layer.isEnabled() or view.k.isEnabled())
    qtbot.mouseClick(view.compute_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.analysis is not None, timeout=120000)
    assert not view.analysis.fitted_here and view.analysis.result.k == 50
    assert "textless-lib's codebook" in view.info.text() and not window.banner.isVisible()
    assert window.minimumSizeHint().width() <= 1366  # the row still fits a laptop screen
    if os.environ.get("STUDIO_SHOTS"):  # look at it: STUDIO_SHOTS=DIR pytest tests/test_units_pretrained.py
        qtbot.wait(300)
        window.grab().save(str(Path(os.environ["STUDIO_SHOTS"]) / "units-pretrained.png"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _publish(monkeypatch, "hubert-base-km100", _km_file(100)[0])
    view.use_codebook("hubert-base-km100")
    assert view.k.currentData() == 100
    view.compute()
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=60000)
    assert "hubert-base-km100" in window.banner.text and "offline" in window.banner.text
    if os.environ.get("STUDIO_SHOTS"):
        qtbot.wait(300)
        window.grab().save(str(Path(os.environ["STUDIO_SHOTS"]) / "units-pretrained-offline.png"))


def test_unreachable_server_names_and_a_foreign_cached_file(hub: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                            tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """From the user test: an unreachable server is one line, not five logged retries; names textless-lib does not
    publish are refused with the ones it does; a file at the cache path that is not the published one is said
    (and left alone); `./hubert-base-km100` is a file, not the name; --out never replaces the cached file."""
    from studio.errors import StudioError

    monkeypatch.setitem(pretrained.PRETRAINED, "hubert-base-km50",
                        PublishedFile("hubert-base-km50", "http://127.0.0.1:1/km.bin", "0" * 64, "km.bin"))
    with pytest.raises(WeightsMissingError, match="127.0.0.1 could not be reached") as err:
        pretrained.load_pretrained("hubert-base-km50")
    assert "/km.bin" in err.value.remedy
    assert "Trying to resume" not in capsys.readouterr().err
    for name in ("hubert-base-km7", "HUBERT-BASE-KM70"):
        with pytest.raises(StudioError, match="publishes no k-means") as err:
            pretrained.pretrained_name(name)
        assert "hubert-base-km100" in err.value.remedy
    assert pretrained.pretrained_name("HUBERT-BASE-KM100") == "hubert-base-km100"
    assert pretrained.pretrained_name("./hubert-base-km100") is None
    file = _publish(monkeypatch, "hubert-base-km100", _km_file(100)[0])
    cached_path(file).parent.mkdir(parents=True)
    cached_path(file).write_bytes(_km_file(7)[0])  # placed by hand, and not the published one
    with pytest.raises(StudioError, match="is not textless-lib's file") as err:
        pretrained.load_pretrained("hubert-base-km100")
    assert "Delete it" in err.value.remedy and cached_path(file).exists()
    cached_path(file).unlink()
    pretrained.load_pretrained("hubert-base-km100")  # downloads it
    before = cached_path(file).read_bytes()
    code = main(["units", str(JFK), "--kmeans", "hubert-base-km100", "--out", str(cached_path(file))])
    assert code != 0 and "is the input file" in capsys.readouterr().err
    assert cached_path(file).read_bytes() == before
    # a local file of that name, written as a path, is a km.bin file for --model / --layer
    (tmp_path / "hubert-base-km100").write_bytes(before)
    monkeypatch.chdir(tmp_path)
    code = main(["units", str(JFK), "--kmeans", "./hubert-base-km100", "--model", str(tmp_path / "none"),
                 "--out", str(tmp_path / "u.txt")])
    assert code != 0 and "does not exist" in capsys.readouterr().err  # it got as far as the model
