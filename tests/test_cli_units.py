"""`studio units` end to end on a random HuBERT base saved by transformers (the real weights need a download):
--features equals transformers' hidden state, units and runs, saved codebooks, and the bad inputs the issue names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.cli.main import main

DATA = Path(__file__).parent / "data"
JFK = DATA / "jfk.flac"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import transformers

    folder = tmp_path_factory.mktemp("hubert")
    torch.manual_seed(0)
    transformers.HubertModel(transformers.HubertConfig()).eval().save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=False).save_pretrained(folder)  # as hubert-base-ls960
    return folder


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["units", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_features_equal_transformers_in_a_real_process(model_folder: Path, tmp_path: Path) -> None:
    import transformers

    from studio.audio.io import load_audio

    out = tmp_path / "f.npy"
    r = subprocess.run([sys.executable, "-m", "studio", "units", str(JFK), "--model", str(model_folder), "--layer",
                        "9", "--features", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and "549 frames x 768" in r.stderr  # features alone: no units printed
    ref = transformers.HubertModel.from_pretrained(model_folder).eval()
    with torch.no_grad():
        want = ref(torch.from_numpy(load_audio(JFK, 16_000))[None], output_hidden_states=True).hidden_states[9][0]
    got = np.load(out)
    assert got.dtype == np.float32 and got.shape == (549, 768)
    assert np.abs(got - want.numpy()).max() < 1e-4


def test_units_runs_and_a_saved_codebook(model_folder: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, JFK, "--model", model_folder, "--k", "50", "--save-kmeans", tmp_path / "km")
    assert code == 0, err
    units = [int(u) for u in out.split()]
    assert len(units) == 549 and out.endswith("\n") and out.count("\n") == 1
    assert 0 <= min(units) and max(units) < 50 and len(set(units)) > 20
    meta = json.loads((tmp_path / "km.json").read_text())
    assert (meta["model"], meta["layer"], meta["k"]) == (str(model_folder), 6, 50)
    # the saved codebook gives the same units; its model and layer are taken from it
    code, again, err = _run(capsys, JFK, "--kmeans", tmp_path / "km.npy", "--out", tmp_path / "u.txt")
    assert code == 0, err
    assert again == "" and (tmp_path / "u.txt").read_text() == out
    code, runs, _ = _run(capsys, JFK, "--kmeans", tmp_path / "km", "--runs")
    rows = [line.split("\t") for line in runs.splitlines()]
    assert float(rows[0][0]) == 0.0 and float(rows[-1][1]) == pytest.approx(549 / 50)
    assert sum(round((float(b) - float(a)) * 50) for a, b, _ in rows) == 549
    assert all(rows[i][2] != rows[i + 1][2] for i in range(len(rows) - 1))  # runs are merged
    assert [int(u) for _, _, u in rows] == [units[0]] + [b for a, b in zip(units, units[1:], strict=False) if a != b]


def test_fit_on_other_recordings(model_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, DATA / "vallex-en-1.wav", "--model", model_folder, "--fit", JFK,
                          DATA / "vallex-ja-1.wav", "--k", "30")
    assert code == 0, err
    assert len(out.split()) == 332 and "k = 30" in err


def test_bad_inputs_get_a_message(model_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def refused(*args: object) -> str:
        code, out, err = _run(capsys, *args)
        assert code == 2 and out == "" and "Traceback" not in err
        return err

    short = tmp_path / "short.wav"
    import soundfile as sf

    sf.write(short, np.zeros(300, np.float32), 16_000)
    assert "shorter than one frame" in refused(short, "--model", model_folder)
    assert "fewer than the 100 units" in refused(DATA / "vallex-zh-1.wav", "--model", model_folder, "--layer", "1",
                                                  "--k", "100")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    assert "broken.wav" in refused(broken, "--model", model_folder)
    assert "layer 13 does not exist" in refused(JFK, "--model", model_folder, "--layer", "13")
    assert "is the input file" in refused(JFK, "--model", model_folder, "--out", JFK)
    assert "not found" in refused(tmp_path / "nothing.wav")
    code, _, _ = _run(capsys, JFK, "--model", model_folder, "--layer", "3", "--k", "8", "--save-kmeans",
                      tmp_path / "l3")
    assert code == 0
    err = refused(JFK, "--kmeans", tmp_path / "l3", "--layer", "6")
    assert "fitted on" in err and "layer 3, not" in err and "--layer 3" in err
    assert "does not exist" in refused(JFK, "--kmeans", tmp_path / "missing.npy")


def test_offline_without_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    code, out, err = _run(capsys, JFK)
    assert code == 2 and "facebook/hubert-base-ls960" in err and "not on this computer" in err


def test_a_textless_km_bin(model_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A scikit-learn MiniBatchKMeans saved with joblib (textless-lib's km.bin format) fitted on this model's layer
    6 features gives the units scikit-learn's own predict gives."""
    import joblib
    from sklearn.cluster import MiniBatchKMeans

    code, _, err = _run(capsys, JFK, "--model", model_folder, "--features", tmp_path / "f.npy")
    assert code == 0, err
    feats = np.load(tmp_path / "f.npy")
    km = MiniBatchKMeans(20, n_init=3, random_state=0).fit(feats)
    joblib.dump(km, tmp_path / "km.bin")
    code, out, err = _run(capsys, JFK, "--model", model_folder, "--kmeans", tmp_path / "km.bin")
    assert code == 0, err
    assert [int(u) for u in out.split()] == km.predict(feats).tolist()
    code, out, err = _run(capsys, JFK, "--model", model_folder, "--layer", "3", "--kmeans", tmp_path / "km.bin")
    assert code == 0  # the file does not say its layer: the user's word is taken
    (tmp_path / "bad.bin").write_bytes(b"\x80\x04junk")
    code, out, err = _run(capsys, JFK, "--model", model_folder, "--kmeans", tmp_path / "bad.bin")
    assert code == 2 and "not a k-means file" in err
