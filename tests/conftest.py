"""Test set-up: offscreen Qt, isolated settings and folders, and a real virtual microphone (PulseAudio null
sink whose monitor is the default source), started before anything opens PortAudio.

Nothing is skipped silently: tests skipped for a missing system piece (the virtual microphone, the X server tools)
are counted, and the last lines of the run say so with the command that fixes it. Under CI they fail instead."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import virtual_mic

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Panels' jobs run on a thread with everything copied through pickle, as the app's model process copies it:
# monkeypatches reach the jobs, and a job or result that could not cross to the process still fails here.
# tests/test_process_worker.py runs the real model process.
os.environ.setdefault("VOICE_STUDIO_WORKER", "isolated")
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
# what scripts/apt-ensure.sh could not install (make test writes it there)
APT_MISSING = Path(os.environ.get("STUDIO_APT_MISSING", ROOT / ".venv" / ".apt-missing"))
_PULSE: dict[str, str] = {}
CI = bool(os.environ.get("CI"))

# Skip reasons for missing system pieces (a prefix of the reason), the Debian packages that bring them, and counts.
NO_MIC = "no PulseAudio virtual microphone"
NO_X = "no X server tools for the desktop tests"
PIECES = {NO_MIC: ["pulseaudio", "pulseaudio-utils", "libasound2-plugins"],
          NO_X: ["xvfb", "x11-utils", "xdotool"]}
X_TOOLS = {"Xvfb": "xvfb", "xwininfo": "x11-utils", "xdotool": "xdotool"}
_SKIPPED: Counter[str] = Counter()
_WHY: dict[str, str] = {}

def _start_virtual_mic() -> bool:
    runtime, why = virtual_mic.start()
    if runtime is None:
        _WHY[NO_MIC] = why
        return False
    _PULSE["runtime"] = runtime
    return True


def need_x_tools() -> None:
    """Skip (fail under CI) unless the X server tools the desktop tests drive are installed."""
    absent = [t for t in X_TOOLS if not shutil.which(t)]
    if not absent:
        return
    _WHY[NO_X] = f"{', '.join(absent)} not installed"
    if CI:
        pytest.fail(f"CI needs {', '.join(absent)} (Debian: {' '.join(X_TOOLS[t] for t in absent)}); "
                    "make test installs them as root")
    pytest.skip(f"{NO_X}: {_WHY[NO_X]}")


def pytest_configure(config: pytest.Config) -> None:
    from studio.ui.refcount_guard import pad_none_refcount

    pad_none_refcount(8_000_000)  # qtbot.wait / waitUntil call processEvents hundreds of thousands of times
    config.virtual_mic = _start_virtual_mic()  # type: ignore[attr-defined]


def _still_missing() -> list[str]:
    """Packages apt-ensure could not install and that are still not installed."""
    try:
        listed = APT_MISSING.read_text().split()
    except OSError:
        return []
    if not listed or not shutil.which("dpkg-query"):
        return listed
    q = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\n", *listed], capture_output=True, text=True)
    installed = {line.split()[0] for line in q.stdout.splitlines() if line.endswith("install ok installed")}
    return [p for p in listed if p not in installed]


def _fix_command(packages: list[str]) -> str:
    if not shutil.which("apt-get"):
        return f"install your system's equivalents of the Debian packages {' '.join(packages)}, then: make test"
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {' '.join(packages)} && make test"


def missing_pieces_notice() -> list[str]:
    """What was not tested for want of system pieces, and the command that fixes it; [] when nothing."""
    lines = [f"{n} test{'s' if n > 1 else ''} SKIPPED: {reason} ({_WHY.get(reason, 'see above')})."
             for reason, n in _SKIPPED.items() if n]
    apt_missing = _still_missing()
    if apt_missing:
        lines.append(f"System packages that make test could not install (it needs root or sudo): "
                     f"{' '.join(apt_missing)}.")
    if not lines:
        return []
    packages = list(apt_missing)
    for reason, n in _SKIPPED.items():
        packages += [p for p in PIECES[reason] if n and p not in packages]
    if _WHY.get(NO_MIC, "").startswith("pulseaudio did not start") and _SKIPPED[NO_MIC]:
        lines.append(f"To see why the virtual microphone fails, run: {shlex.join(virtual_mic.PULSE_CMD)}")
    if packages:
        lines.append(f"Fix: {_fix_command(packages)}")
    return lines


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2].removeprefix("Skipped: ")
        for piece in PIECES:
            if reason.startswith(piece):
                _SKIPPED[piece] += 1


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PULSE:
        virtual_mic.stop(_PULSE["runtime"])
    lines = missing_pieces_notice()
    if not lines:
        return
    # here, after pytest's own summary line, so that these are the last lines of the run
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        print("\n".join(["NOT EVERYTHING WAS TESTED:", *lines]))
        return
    tr.write_sep("!", "NOT EVERYTHING WAS TESTED", red=True, bold=True)
    for line in lines:
        tr.write_line(line, yellow=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = os.environ.get("STUDIO_SLOW_TESTS") == "1"
    for item in items:
        if "slow" in item.keywords and not slow:
            item.add_marker(pytest.mark.skip(reason="slow; set STUDIO_SLOW_TESTS=1"))
        if "audio" in item.keywords and not getattr(config, "virtual_mic", False):
            if CI:
                raise pytest.UsageError(f"CI needs the virtual microphone but {_WHY.get(NO_MIC)}")
            item.add_marker(pytest.mark.skip(reason=f"{NO_MIC}: {_WHY.get(NO_MIC)}"))


@pytest.fixture(scope="session")
def data() -> Path:
    if not (DATA / "jfk.flac").exists():
        pytest.fail(f"test data missing at {DATA}: the repository's tests/data folder is incomplete")
    return DATA


@pytest.fixture(scope="session")
def jfk16(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Path:
    """jfk.flac as 16-bit WAV: paplay mis-times 24-bit FLAC on this PulseAudio, 16-bit plays in real time."""
    import soundfile as sf

    x, sr = sf.read(data / "jfk.flac", dtype="float32")
    out = tmp_path_factory.mktemp("jfk") / "jfk16.wav"
    sf.write(out, x, sr, subtype="PCM_16")
    return out


@pytest.fixture
def settings(tmp_path: Path):  # noqa: ANN201
    from PySide6.QtCore import QSettings

    from studio.ui.settings import AppSettings

    s = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    s.recordings_folder = str(tmp_path / "recordings")
    s.voices_folder = str(tmp_path / "voices")
    return s


@pytest.fixture
def window(qtbot, settings):  # noqa: ANN201
    import gc

    from studio.ui.main_window import MainWindow

    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
    gc.collect()  # here, on the UI thread: never let a worker thread collect Qt objects


def drop_files(widget, paths) -> None:  # noqa: ANN001
    """Drop files on a widget as the window system would."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    widget.dropEvent(QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))


@pytest.fixture(scope="session")
def small_hubert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random HuBERT (the base layout, narrow: 2 layers, 64 wide) saved by transformers as `hb/`, standing
    in for the download in the `studio units` tests. Tests only read it."""
    import torch
    import transformers

    folder = tmp_path_factory.mktemp("models") / "hb"
    torch.manual_seed(0)
    transformers.HubertModel(transformers.HubertConfig(
        num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128, conv_dim=(64,) * 7,
        num_conv_pos_embedding_groups=4)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def small_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(VALL-E checkpoint, EnCodec release .th) standing in for the downloads in the voice-cloning tests: a small
    random VALL-E (width 64, 4 heads, 2 layers) and a random full-size EnCodec 24 kHz whose codebooks were fitted
    to real speech (test_codec.random_pair), made once per run."""
    pytest.importorskip("encodec")
    import torch
    from test_codec import random_pair

    from studio.hub.valle_weights import save_checkpoint
    from studio.models.valle import VallE, ValleConfig

    folder = tmp_path_factory.mktemp("clone-models")
    torch.manual_seed(0)
    save_checkpoint(VallE(ValleConfig(d_model=64, n_head=4, n_layer=2)).eval(), folder / "valle-small.pt")
    ref, _ = random_pair(24)
    torch.save(ref.state_dict(), folder / "encodec_24khz-random.th")
    return str(folder / "valle-small.pt"), str(folder / "encodec_24khz-random.th")


# the small random BLIP standing in for the captioning downloads
BLIP_VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   image_size=64, patch_size=16)
BLIP_TEXT = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                 vocab_size=120, encoder_hidden_size=64, bos_token_id=100, sep_token_id=102, pad_token_id=0)
BLIP_WORDS = ["a", "cat", "dog", "on", "the", "picture", "of", "sofa", "red", "hat", "top", "sitting", "with", "and"]


def _tokenizer_json(folder: Path) -> None:
    """A BERT WordPiece tokenizer (lower case) with the small model's 120 ids: [PAD] 0, words, [DEC] 100,
    [CLS] 101, [SEP] 102, [UNK] 103."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {"[PAD]": 0, "[DEC]": 100, "[CLS]": 101, "[SEP]": 102, "[UNK]": 103}
    for i, w in enumerate(BLIP_WORDS):
        vocab[w] = i + 1
    for i in range(120):
        if i not in vocab.values():
            vocab[f"w{i}"] = i
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 101),
                                                                                                  ("[SEP]", 102)])
    tok.decoder = decoders.WordPiece()
    tok.add_special_tokens(["[PAD]", "[DEC]", "[CLS]", "[SEP]", "[UNK]"])
    tok.save(str(folder / "tokenizer.json"))


@pytest.fixture(scope="session")
def blip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random BLIP (64 px images, 4x4 patches, 2 layers of 4 heads) saved as transformers saves one, with
    its image processor config and a WordPiece tokenizer.json."""
    pytest.importorskip("transformers")
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("blip-small")
    config = BlipConfig(vision_config=BLIP_VISION, text_config=BLIP_TEXT)
    BlipForConditionalGeneration(config).eval().save_pretrained(folder)
    BlipImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    _tokenizer_json(folder)
    return folder
