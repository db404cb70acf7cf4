""""Import local weights…": check a model file or folder the user already has, then copy it into the cache.

Accepted: an openai-whisper `.pt`, a Hugging Face folder (config.json + model.safetensors / pytorch_model.bin) of
Whisper, EnCodec, a BLIP captioner (with its tokenizer.json), HuBERT or wav2vec 2.0, a CTranslate2 / faster-whisper
folder (model.bin + config.json), an EnCodec release `.th`, the VALL-E X release `vallex-checkpoint.pt`, torchaudio's
HuBERT / wav2vec 2.0 `.pth`.
Each is loaded with the loader that will use it later (on the worker thread: this imports torch), so what lands
in the cache is known to work. Imports live in `<cache>/voice-studio-imported/<kind>/<name>/` with a small
`voice-studio-import.json` that says what they are; the pickers list them with `imported_models`.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from studio.errors import JobCancelled
from studio.hub.ctranslate2 import CheckpointError
from studio.hub.download import cache_root, import_local
from studio.outputs import check_folder, describe_os_error

IMPORT_DIR = "voice-studio-imported"
MARKER = "voice-studio-import.json"
KINDS = ("whisper", "encodec", "valle", "blip", "hubert")
EXPECTED = ("an openai-whisper .pt, a Hugging Face Whisper, EnCodec, BLIP captioning, HuBERT or wav2vec 2.0 folder "
            "(config.json + model.safetensors or pytorch_model.bin), a CTranslate2 / faster-whisper folder "
            "(model.bin + config.json), an EnCodec release .th, the VALL-E X vallex-checkpoint.pt, or a torchaudio "
            ".pth or fairseq .pt of HuBERT / wav2vec 2.0")
_FILE_FORMATS = ("openai", "th", "pt", "pth", "fairseq")  # imports that are one file; the others are folders
_FOLDER_FILES = ("model.bin", "config.json", "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


@dataclass(frozen=True)
class ImportedModel:
    kind: str  # "whisper", "encodec", "valle", "blip" or "hubert" (HuBERT / wav2vec 2.0)
    format: str  # "openai", "hf", "ct2", "th", "pt" (VALL-E X), "pth" (torchaudio's HuBERT) or
    # "fairseq" (fairseq's HuBERT / wav2vec 2.0)
    name: str  # shown in the picker
    path: str  # what the loader takes: the .pt / .th file or the folder

    @property
    def label(self) -> str:
        return f"{self.name} (imported)"


def model_root(source: str | os.PathLike) -> Path:
    """The file or folder to import: picking model.bin, config.json or model.safetensors means its folder."""
    path = Path(source).expanduser()
    if path.is_file() and (path.name in _FOLDER_FILES or path.suffix == ".safetensors"):
        return path.parent
    return path


def identify(source: str | os.PathLike) -> tuple[str, str, object]:
    """Load `source` with the loader that fits it: (kind, format, the loaded model). A file or folder that is no
    model we know is a CheckpointError that says what it holds."""
    from studio.hub import encodec_weights, fairseq_hubert, hubert_weights, valle_weights, whisper_weights
    from studio.hub.checkpoint_io import folder_listing, read_json

    path = model_root(source)
    if not path.exists():
        raise CheckpointError(f"'{path}' does not exist.", "Choose the model file or folder again.")
    remedy = f"Choose {EXPECTED}."
    if path.is_file():
        if path.suffix.lower() == ".th":
            return "encodec", "th", encodec_weights.load_original(path)
        if fairseq_hubert.is_fairseq_file(path, remedy):
            return "hubert", "fairseq", hubert_weights.load_file(path, str(path))
        if path.suffix.lower() == ".pth":
            return "hubert", "pth", hubert_weights.load_file(path, str(path))
        if valle_weights.is_valle_file(path):
            return "valle", "pt", valle_weights.load_file(path)
        try:
            model, _ = whisper_weights.load_openai(path)
            return "whisper", "openai", model
        except CheckpointError as e:
            if "holds an EnCodec" not in e.message:
                raise CheckpointError(f"{e.message.rstrip('.')}. Voice Studio imports {EXPECTED}.",
                                      remedy) from e
        return "encodec", "th", encodec_weights.load_original(path)
    if (path / "model.bin").exists():
        model, _ = whisper_weights.load_ct2(path)
        return "whisper", "ct2", model
    if (path / "config.json").exists():
        cfg = read_json(path / "config.json", "a model configuration", remedy)
        kind = cfg.get("model_type")
        if kind == "encodec" or (kind is None and "target_bandwidths" in cfg):
            return "encodec", "hf", encodec_weights.load_hf(path)
        if kind == "whisper" or (kind is None and "num_mel_bins" in cfg):
            model, _ = whisper_weights.load_hf(path)
            return "whisper", "hf", model
        if kind == "blip":
            return "blip", "hf", _load_blip(path)
        if kind in ("hubert", "wav2vec2"):
            return "hubert", "hf", hubert_weights.load_folder(path, str(path))
        found = f"a Hugging Face '{kind}' model" if kind else "a config.json of an unknown model"
        raise CheckpointError(f"'{path.name}' holds {found}; Voice Studio imports {EXPECTED}.", remedy)
    raise CheckpointError(f"'{path.name}' is not a model Voice Studio knows: it holds {folder_listing(path)}.",
                          remedy)


def _load_blip(folder: Path) -> object:
    """The captioner with its tokenizer: a BLIP folder without tokenizer.json cannot caption."""
    from studio.engine.caption.tokenizer import CaptionTokenizer
    from studio.hub.blip_weights import load_folder

    model = load_folder(folder)
    CaptionTokenizer(folder, model.cfg.text.bos_token_id, model.cfg.text.sep_token_id)
    return model


def imports_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / IMPORT_DIR


def import_weights(source: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                   cancel: threading.Event | None = None) -> ImportedModel:
    """Validate `source`, then copy it into the cache (a temporary folder renamed when complete, so a failed or
    cancelled copy leaves nothing). The source is only read."""
    root = model_root(source)
    kind, fmt, _ = identify(root)
    if cancel is not None and cancel.is_set():
        raise JobCancelled()
    kind_dir = imports_folder(cache_dir) / kind
    check_folder(kind_dir, create=True)
    base = root.stem if root.is_file() else root.name
    name = _free_name(kind_dir, base or kind)
    tmp_name = f".{name}.{uuid.uuid4().hex[:8]}.part"
    try:
        tmp = import_local(root, tmp_name, kind_dir)
        if cancel is not None and cancel.is_set():
            raise JobCancelled()
        target = kind_dir / name
        path = target / root.name if root.is_file() else target
        model = ImportedModel(kind, fmt, name, str(path))
        (tmp / MARKER).write_text(json.dumps({**asdict(model), "source": str(root)}, indent=1))
        os.replace(tmp, target)
    except OSError as e:
        shutil.rmtree(kind_dir / tmp_name, ignore_errors=True)
        raise describe_os_error(e, kind_dir, "copy the model into") from e
    except BaseException:
        shutil.rmtree(kind_dir / tmp_name, ignore_errors=True)
        raise
    return model


def _free_name(folder: Path, base: str) -> str:
    name, n = base, 1
    while (folder / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def imported_models(cache_dir: str | os.PathLike | None = None, kind: str | None = None) -> list[ImportedModel]:
    """Models imported earlier (newest first), read from their markers; a folder whose marker or model is gone is
    skipped."""
    found: list[tuple[float, ImportedModel]] = []
    for k in KINDS if kind is None else (kind,):
        folder = imports_folder(cache_dir) / k
        try:
            entries = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        except OSError:
            continue
        for entry in entries:
            try:
                meta = json.loads((entry / MARKER).read_text(encoding="utf-8"))
                model = ImportedModel(k, str(meta["format"]), entry.name, str(entry / Path(meta["path"]).name)
                                      if meta["format"] in _FILE_FORMATS else str(entry))
                if Path(model.path).exists():
                    found.append((entry.stat().st_mtime, model))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return [m for _, m in sorted(found, key=lambda t: -t[0])]


def import_job(ctx: object, path: str, cache_dir: str) -> ImportedModel:
    """import_weights as a worker job (Import local weights…): loading the model to check it needs torch."""
    ctx.progress(0.0, f"Checking {Path(path).name}…")  # type: ignore[attr-defined]
    return import_weights(path, cache_dir or None, cancel=ctx._cancel)  # type: ignore[attr-defined]
