"""`studio clone` as a user runs it: a preset voice or a recording enrolled on the fly, outputs, errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch

from studio.hub.valle_weights import save_checkpoint

DATA = Path(__file__).parent / "data"
PRESET = DATA / "vallex-preset-librispeech_1.npz"


def _studio(*args: str, timeout: float = 180, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


@pytest.fixture(scope="module")
def models(small_models: tuple[str, str]) -> list[str]:
    """--model/--codec arguments for the small random VALL-E and the random EnCodec 24 kHz (conftest)."""
    return ["--model", small_models[0], "--codec", small_models[1], "--device", "cpu"]


def test_preset_voice_two_sentences_to_a_wav(tmp_path: Path, models: list[str]) -> None:
    out = tmp_path / "said.wav"
    r = _studio("clone", str(out), "--voice", str(PRESET), "--text", "Hello there. How are you?", "--seed", "4",
                "--top-k", "50", "--no-check", *models)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "[1/2]" in r.stderr and "[2/2]" in r.stderr
    info = sf.info(str(out))
    assert info.samplerate == 24000 and info.channels == 1 and info.frames > 0
    assert f"Wrote {out}" in r.stdout
    again = tmp_path / "again.wav"
    assert _studio("clone", str(again), "--voice", str(PRESET), "--text", "Hello there. How are you?", "--seed",
                   "4", "--top-k", "50", "--no-check", *models).returncode == 0
    assert again.read_bytes() == out.read_bytes()  # a seed gives the same take


def test_recording_voice_enrolled_on_the_fly_with_its_text(tmp_path: Path, models: list[str]) -> None:
    out = tmp_path / "from-wav.wav"
    r = _studio("clone", str(out), "--voice", str(DATA / "vallex-en-1.wav"), "--prompt-text",
                "A sentence read aloud.", "--text", "Good morning.", "--no-check", *models)
    assert r.returncode == 0, r.stderr
    assert sf.info(str(out)).frames > 0
    assert (DATA / "vallex-en-1.wav").stat().st_size > 0 and not list(DATA.glob("*.part"))


@pytest.mark.parametrize(("args", "expected"), [
    (["--text", "   "], "--text is empty"),
    (["--text", "Hi.", "--temperature", "0"], "out of range"),
    (["--text", "Hi.", "--top-k", "5000"], "out of range"),
    (["--text", "Hi.", "--language", "fr"], "invalid choice"),
    (["--text", "Hi.", "--prompt-text", "words"], "are for a recording"),
    (["--text", "😀😀😀"], "nothing"),
    (["--text", "Hi.", "--temperature", "1e-39"], "out of range"),
    (["--text", "你好世界"], "Choose Chinese (zh)"),
])
def test_bad_arguments_are_one_line_messages(tmp_path: Path, models: list[str], args: list[str],
                                             expected: str) -> None:
    r = _studio("clone", str(tmp_path / "o.wav"), "--voice", str(PRESET), "--no-check", *args, *models)
    assert r.returncode == 2 and expected in r.stderr.lower() or expected in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o.wav").exists()


def test_bad_voices_and_outputs(tmp_path: Path, models: list[str]) -> None:
    short = tmp_path / "short.wav"
    sf.write(short, sf.read(DATA / "vallex-en-1.wav")[0][:16000], 16000)
    cases = [
        ([str(tmp_path / "o.wav"), "--voice", str(tmp_path / "none.npz")], "Voice file not found"),
        ([str(tmp_path / "o.wav"), "--voice", str(short), "--prompt-text", "hi"], "needs at least 2 s"),
        ([str(PRESET), "--voice", str(PRESET)], ""),  # the output would replace the voice
        ([str(tmp_path / "o.mp3"), "--voice", str(PRESET)], ".wav"),
    ]
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really")
    cases.append(([str(tmp_path / "o.wav"), "--voice", str(broken)], "broken.npz"))
    before = PRESET.read_bytes()
    for args, expected in cases:
        r = _studio("clone", *args, "--text", "Hello.", "--no-check", *models)
        assert r.returncode == 2, (args, r.stderr)
        assert expected in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert PRESET.read_bytes() == before and not (tmp_path / "o.wav").exists()


def test_offline_without_the_model_says_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    r = _studio("clone", str(tmp_path / "o.wav"), "--voice", str(PRESET), "--text", "Hello.", "--no-check",
                env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "vallex-checkpoint.pt" in r.stderr and "Import local weights" in r.stderr


def test_ctrl_c_keeps_the_sentences_done(tmp_path: Path, models: list[str]) -> None:
    out = tmp_path / "partial.wav"
    text = " ".join(f"Sentence number {i} is here." for i in range(1, 40))
    proc = subprocess.Popen([sys.executable, "-m", "studio", "clone", str(out), "--voice", str(PRESET), "--text",
                             text, "--no-check", *models], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    seen = ""
    while "[2/" not in seen and time.monotonic() < deadline:  # wait until two sentences are done
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, seen + stderr
    assert "stopped early" in stdout and sf.info(str(out)).frames > 0


def test_a_sentence_the_model_will_not_say_keeps_the_others(tmp_path: Path, models: list[str]) -> None:
    """A model that ends every sentence at once: three seeds are tried, then the error is reported; nothing done
    is lost (here nothing was done, so nothing is written)."""
    from studio.hub.valle_weights import load_valle

    model = load_valle(models[1])
    with torch.no_grad():  # the end token wins every draw
        model.ar_predict_layer.weight.zero_()
        model.ar_decoder.norm.weight.zero_()
        model.ar_decoder.norm.bias.zero_()
        model.ar_decoder.norm.bias[0] = 10.0
        model.ar_predict_layer.weight[1024, 0] = 10.0
    mute = tmp_path / "mute.pt"
    save_checkpoint(model, mute)
    args = ["--model", str(mute), *models[2:]]
    r = _studio("clone", str(tmp_path / "o.wav"), "--voice", str(PRESET), "--text", "One. Two.", "--no-check",
                *args)
    assert r.returncode == 2 and "before saying anything" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.wav").exists()


def test_a_48_khz_codec_is_refused_before_the_model_loads(tmp_path: Path, models: list[str]) -> None:
    from test_codec import random_pair

    ref, _ = random_pair(48)
    codec48 = tmp_path / "encodec_48khz-random.th"
    torch.save(ref.state_dict(), codec48)
    r = _studio("clone", str(tmp_path / "o.wav"), "--voice", str(PRESET), "--text", "Hi.", "--no-check",
                "--model", models[1], "--codec", str(codec48))
    assert r.returncode == 2 and "runs at 48 kHz" in r.stderr and "Traceback" not in r.stderr
