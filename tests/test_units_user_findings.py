"""What a user test with bad inputs found in `studio units` and the codebook files, each kept fixed here: outputs
that would replace the model's files or each other, codebooks of a model named by another path, a closed or
full standard output, and messages that said the wrong thing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.cli.main import main
from studio.engine.units.codebook import Codebook, load_codebook, save_codebook
from studio.errors import StudioError

DATA = Path(__file__).parent / "data"
JFK = DATA / "jfk.flac"


@pytest.fixture
def hb(small_hubert: Path) -> Path:
    return small_hubert


def _run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["units", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _sha(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_outputs_never_replace_the_model_or_each_other(hb: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    before = _sha(hb)
    base = ["--model", hb, "--layer", "2", "--k", "8"]
    for args, said in (
            (["--out", hb / "config.json"], "is the input file"),
            (["--out", hb / "model.safetensors"], "is the input file"),
            (["--save-kmeans", hb / "config"], "is the input file"),
            (["--features", tmp_path / "same.npy", "--out", tmp_path / "same.npy"], "both name"),
            (["--save-kmeans", tmp_path / "o1", "--out", tmp_path / "o1.npy"], "both name"),
            (["--save-kmeans", tmp_path / "o2", "--features", tmp_path / "o2.npy"], "both name"),
            (["--save-kmeans", tmp_path / "o3.json", "--out", tmp_path / "o3.json"], "both name")):
        code, out, err = _run(capsys, JFK, *base, *args)
        assert code == 2 and said in err, (args, err)
    assert _sha(hb) == before and not list(tmp_path.iterdir())


def test_a_codebook_never_replaces_a_json_that_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "hubert"}')
    with pytest.raises(StudioError, match="not a codebook description"):
        save_codebook(Codebook(np.ones((3, 2), np.float32), "m", 1), tmp_path / "config.npy")
    assert json.loads((tmp_path / "config.json").read_text()) == {"model_type": "hubert"}
    assert not (tmp_path / "config.npy").exists()
    save_codebook(Codebook(np.ones((3, 2), np.float32), "m", 1), tmp_path / "cb")  # ours may be replaced
    save_codebook(Codebook(np.zeros((3, 2), np.float32), "m", 1), tmp_path / "cb.npy")
    assert load_codebook(tmp_path / "cb").centers.sum() == 0
    with pytest.raises(StudioError, match="needs a file name"):
        save_codebook(Codebook(np.ones((3, 2), np.float32), "m", 1), "")


def test_one_model_by_any_path_and_a_moved_one(hb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(hb.parent)
    code, units, err = _run(capsys, JFK, "--model", "./hb", "--layer", "2", "--k", "8", "--save-kmeans",
                            tmp_path / "cb")
    assert code == 0, err
    for name in (str(hb), str(hb) + "/", "hb/config.json", "./hb/"):
        code, out, err = _run(capsys, JFK, "--kmeans", tmp_path / "cb", "--model", name)
        assert code == 0 and out == units, (name, err)
    moved = tmp_path / "elsewhere"
    shutil.copytree(hb, moved)
    code, out, err = _run(capsys, JFK, "--kmeans", tmp_path / "cb", "--model", moved)
    assert code == 2 and "fitted on" in err  # a copy beside the original is another model
    meta = json.loads((tmp_path / "cb.json").read_text())
    (tmp_path / "cb.json").write_text(json.dumps({**meta, "model": str(tmp_path / "gone")}))
    code, out, err = _run(capsys, JFK, "--kmeans", tmp_path / "cb", "--model", moved, "--k", "9")
    assert code == 0 and out == units and "which is gone; using" in err and "--k 9 is not used" in err


def test_closed_or_full_standard_output(hb: Path) -> None:
    argv = [sys.executable, "-m", "studio", "units", str(JFK), "--model", str(hb), "--layer", "2", "--k", "8"]
    with open("/dev/full", "w") as full_device:
        full = subprocess.run(argv, stdout=full_device, stderr=subprocess.PIPE, text=True, timeout=300)
    closed = subprocess.run(argv, stderr=subprocess.PIPE, text=True, timeout=300,
                            preexec_fn=lambda: os.close(1))  # `studio units ... >&-`
    for r in (full, closed):
        assert r.returncode == 2 and "Traceback" not in r.stderr and "--out FILE" in r.stderr, r.stderr


def test_messages_that_said_the_wrong_thing(hb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf

    sf.write(tmp_path / "one-frame.wav", np.zeros(400, np.float32), 16000)
    code, _, err = _run(capsys, tmp_path / "one-frame.wav", "--model", hb, "--layer", "2", "--k", "2")
    assert code == 2 and "only 1 frame" in err and "0.0 s" not in err
    bad = tmp_path / "bad-pre"
    shutil.copytree(hb, bad)
    (bad / "preprocessor_config.json").write_text('{"sampling_rate": "abc"}')
    code, _, err = _run(capsys, JFK, "--model", bad)
    assert code == 2 and "'abc' Hz" in err
    save_codebook(Codebook(np.ones((4, 64), np.float32), "m", 2), tmp_path / "cb")
    np.save(tmp_path / "cb.npy", np.ones((4, 64), np.int64))
    with pytest.raises(StudioError, match="int64 values; a codebook holds floating-point"):
        load_codebook(tmp_path / "cb")
    np.save(tmp_path / "cb.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(StudioError, match="pickled Python objects, which Voice Studio does not load"):
        load_codebook(tmp_path / "cb")
    np.save(tmp_path / "cb.npy", np.ones((4, 64), np.float32))
    meta = json.loads((tmp_path / "cb.json").read_text())
    (tmp_path / "cb.json").write_text(json.dumps({**meta, "layer": True}))
    with pytest.raises(StudioError, match="which model and layer"):
        load_codebook(tmp_path / "cb")


def test_a_km_bin_with_a_model_given_by_a_relative_path(hb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """From the second user test: `--kmeans km.bin --model ./hb` said "fitted on ./hb, not /abs/hb"."""
    import joblib
    from sklearn.cluster import KMeans

    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)  # hb is 64 wide
    joblib.dump(KMeans(n_clusters=4, n_init=1, random_state=0).fit(x), tmp_path / "km.bin")
    monkeypatch.chdir(hb.parent)
    code = main(["units", str(JFK), "--kmeans", str(tmp_path / "km.bin"), "--model", f"./{hb.name}", "--layer",
                 "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(out.split()) == 549 and set(out.split()) <= {"0", "1", "2", "3"}


def test_third_user_test_names_and_the_cache(hb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Empty names and folders gave tracebacks or wrote /tmp.npy; an output inside the model cache replaced a
    downloaded k-means file."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    cached = tmp_path / "hf" / "hub" / "voice-studio-downloads" / "hubert-base-km100" / "km.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"the published bytes")
    for args, message in ((["--kmeans", ""], "--kmeans is empty"), (["--model", ""], "--model is empty"),
                          (["--kmeans", "."], "is a folder"), (["--save-kmeans", "."], "is a folder"),
                          (["--save-kmeans", f"{tmp_path}/"], "is a folder"),
                          (["--out", str(cached)], "inside Voice Studio's model cache")):
        code, _, err = _run(capsys, JFK, "--model", hb, "--layer", "1", "--k", "4", *args)
        assert code != 0 and message in err and "Traceback" not in err, (args, err)
    assert cached.read_bytes() == b"the published bytes"
    assert not (tmp_path.parent / f"{tmp_path.name}.npy").exists()
