"""VALL-E X weights: the public release `vallex-checkpoint.pt` (Hugging Face `Plachta/VALL-E-X`), a torch zip
whose key "model" holds the state dict under the names of `studio.models.valle` (no renaming needed).

Loaded with `torch.load(weights_only=True)` (never unpickles code) and memory-mapped, so the 1.5 GB file is not
copied into anonymous memory; every key and shape is checked before any tensor is used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import torch

from studio.hub.checkpoint_io import check_finite, describe_contents, looks_like_path, not_a_path, torch_load
from studio.hub.ctranslate2 import CheckpointError
from studio.hub.download import DownloadProgress, download_files
from studio.models.valle import VallE, ValleConfig

HF_REPO = "Plachta/VALL-E-X"
HF_FILE = "vallex-checkpoint.pt"
CHECKPOINT_BYTES = 1_480_000_000  # about: 370.5 M float32 parameters
_EXPECTED = "a VALL-E X checkpoint (vallex-checkpoint.pt: a dict whose 'model' holds the state dict)"
_REMEDY = (f"Download {HF_FILE} from huggingface.co/{HF_REPO} and choose it with File > Import local weights…, "
           "or pass its path with --model.")
HEAD_DIM = 64  # the checkpoint does not store the head count; the release (and every config we make) uses 64


def config_from_state(state: dict[str, torch.Tensor]) -> ValleConfig:
    """Sizes read from the tensors: width, depth, quantizers, vocabularies, languages."""
    def shape(name: str) -> tuple[int, ...]:
        t = state.get(name)
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"The VALL-E X checkpoint lacks {name}.", _REMEDY)
        return tuple(t.shape)

    n_text, d = shape("ar_text_embedding.word_embeddings.weight")
    n_audio = shape("ar_predict_layer.weight")[0] - 1
    n_layer = len({k.split(".")[2] for k in state if k.startswith("ar_decoder.layers.")})
    n_q = len({k.split(".")[1] for k in state if k.startswith("nar_audio_embeddings.")})
    n_lang = shape("ar_language_embedding.word_embeddings.weight")[0]
    if d % HEAD_DIM or n_layer == 0 or n_q < 2:
        raise CheckpointError(f"The VALL-E X checkpoint has an unexpected size (width {d}, {n_layer} layers, "
                              f"{n_q} codebooks).", _REMEDY)
    return ValleConfig(d_model=d, n_head=d // HEAD_DIM, n_layer=n_layer, n_quantizers=n_q, n_text_tokens=n_text,
                       n_audio_tokens=n_audio, n_languages=n_lang)


def state_of(obj: object, path: Path) -> tuple[dict[str, torch.Tensor], ValleConfig | None]:
    """The state dict inside a release checkpoint ({"model": {...}}) or a bare state dict, and the config when
    the file carries one (our own smaller models do, as "studio_config"; the release does not)."""
    inner = obj.get("model") if isinstance(obj, dict) and "model" in obj else obj
    if not (isinstance(inner, dict) and inner and all(isinstance(k, str) for k in inner)
            and "ar_text_embedding.word_embeddings.weight" in inner):
        raise CheckpointError(f"'{path.name}' holds {describe_contents(inner)}; expected {_EXPECTED}.", _REMEDY)
    raw = obj.get("studio_config") if isinstance(obj, dict) else None
    if raw is None:
        return inner, None
    try:
        return inner, ValleConfig(**{k: int(v) for k, v in raw.items()})
    except (AttributeError, TypeError, ValueError) as e:
        raise CheckpointError(f"'{path.name}' carries a damaged model configuration ({e}).", _REMEDY) from e


def save_checkpoint(model: VallE, path: Path) -> None:
    """The release layout plus our config (tests, benchmarks and smaller models)."""
    from dataclasses import asdict

    torch.save({"model": model.state_dict(), "studio_config": asdict(model.cfg)}, path)


def build_model(state: dict[str, torch.Tensor], cfg: ValleConfig | None = None) -> VallE:
    """A model holding exactly `state`: every key of the model present, nothing extra, every shape equal."""
    cfg = cfg or config_from_state(state)
    with torch.device("meta"):  # no random init of 370 M parameters the checkpoint replaces
        model = VallE(cfg)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        raise CheckpointError(f"The VALL-E X checkpoint lacks {missing[0]}"
                              f"{f' and {len(missing) - 1} more tensors' if len(missing) > 1 else ''}.", _REMEDY)
    if unexpected:
        raise CheckpointError(f"The VALL-E X checkpoint has an unexpected tensor {unexpected[0]}"
                              f"{f' and {len(unexpected) - 1} more' if len(unexpected) > 1 else ''}.", _REMEDY)
    for k, t in state.items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"Entry {k} of the VALL-E X checkpoint is a {type(t).__name__}, not a tensor.",
                                  _REMEDY)
        if t.shape != expected[k].shape:
            raise CheckpointError(f"Tensor {k} has shape {tuple(t.shape)}, expected {tuple(expected[k].shape)}.",
                                  "The file may belong to another model or another VALL-E size.")
        if not t.is_floating_point():
            raise CheckpointError(f"Tensor {k} holds {t.dtype} values, expected floating point.", _REMEDY)
    check_finite(state, "VALL-E X checkpoint")
    model.load_state_dict({k: t.float() for k, t in state.items()}, strict=True, assign=True)
    # assign=True replaced each tied weight separately: tie them again so one tensor serves both names
    for j in range(cfg.n_quantizers - 2):
        model.nar_predict_layers[j].weight = model.nar_audio_embeddings[j + 2].weight
    return model.eval()


def is_valle_file(path: Path) -> bool:
    """True for a checkpoint holding VALL-E X tensors (a cheap look: the file is mapped, not read)."""
    try:
        state_of(torch_load(path, _EXPECTED, _REMEDY, mmap=True), path)
    except CheckpointError:
        return False
    return True


def load_file(path: Path) -> VallE:
    state, cfg = state_of(torch_load(path, _EXPECTED, _REMEDY, mmap=True), path)
    return build_model(state, cfg)


def load_valle(source: str | os.PathLike = "vallex", cache_dir: str | os.PathLike | None = None,
               progress: Callable[[DownloadProgress], None] | None = None,
               cancel: threading.Event | None = None) -> VallE:
    """`source`: "vallex" (the public checkpoint, downloaded once into the Hugging Face cache) or a path to a
    checkpoint file."""
    source = os.fspath(source)
    if source.lower() not in ("vallex", "vall-e-x", HF_REPO.lower()):
        if not looks_like_path(source):
            raise CheckpointError(f"Unknown voice model '{source}'.", "Use vallex, or the path of a checkpoint file.")
        path = Path(source).expanduser()
        if not path.exists():
            raise not_a_path(source, "voice model file", "Check the path, or use vallex.")
        if path.is_dir():
            path = path / HF_FILE
            if not path.exists():
                raise CheckpointError(f"'{source}' holds no {HF_FILE}.", _REMEDY)
        return load_file(path)
    files = download_files(HF_REPO, [HF_FILE], cache_dir=cache_dir, progress=progress, cancel=cancel)
    return load_file(files[HF_FILE])
