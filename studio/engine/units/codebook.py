"""A k-means codebook on disk: `NAME.npy` (k, dim) float32 centres, and `NAME.json` beside it saying which model
and layer the centres belong to. Units are only meaningful for the features they were fitted on, so loading
checks both against what the caller will extract."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.errors import StudioError
from studio.outputs import atomic_output, describe_os_error

FORMAT = "voice-studio-units"
VERSION = 1


@dataclass(frozen=True)
class Codebook:
    centers: np.ndarray  # (k, dim) float32
    model: str           # the encoder's name as the user gave it (hubert-base, a repo id, a path)
    layer: int

    @property
    def k(self) -> int:
        return int(self.centers.shape[0])

    @property
    def dim(self) -> int:
        return int(self.centers.shape[1])

    def check_fits(self, model: str, layer: int, dim: int, where: str = "the codebook") -> None:
        if self.dim != dim:
            raise StudioError(f"{where} holds {self.dim}-dimensional centres, but {model}'s layer {layer} gives "
                              f"{dim}-dimensional features.", "Use a codebook fitted on this model, or fit one.")
        if (self.model, self.layer) != (model, layer):
            raise StudioError(f"{where} was fitted on {self.model} layer {self.layer}, not {model} layer {layer}.",
                              f"Use --model {self.model} --layer {self.layer} with it (or leave both out), or fit "
                              "a codebook for this model and layer.")


def sidecar(path: Path) -> tuple[Path, Path]:
    """(NAME.npy, NAME.json) for either name, or for NAME without a suffix."""
    if not path.name or path.is_dir():  # (a Path has no trailing separator: the CLI checks the text it was given)
        raise StudioError(f"'{path}' is a folder, not a codebook's file name.",
                          "Give the codebook's file name, e.g. units-k100.npy.")
    base = path.with_suffix("") if path.suffix.lower() in (".npy", ".json") else path
    return base.with_name(base.name + ".npy"), base.with_name(base.name + ".json")


def save_codebook(cb: Codebook, path: str | os.PathLike) -> tuple[Path, Path]:
    """NAME.npy and NAME.json; a NAME.json that is not a codebook description (a model's config.json, say) is never
    replaced: a save dialog asks about the .npy only."""
    if not Path(path).name or Path(path).name in (".npy", ".json"):
        raise StudioError("A codebook needs a file name.", "Choose a name, e.g. units-k100.npy.")
    npy, meta = sidecar(Path(path))
    if meta.exists() and not _is_ours(meta):
        raise StudioError(f"'{meta}' exists and is not a codebook description; saving would replace it.",
                          "Choose another name for the codebook.")
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(cb.centers, dtype=np.float32), allow_pickle=False)
    with atomic_output(npy) as f:
        f.write(buf.getvalue())
    info = {"format": FORMAT, "version": VERSION, "model": cb.model, "layer": cb.layer, "k": cb.k, "dim": cb.dim}
    with atomic_output(meta, "w", encoding="utf-8") as f:
        f.write(json.dumps(info, indent=2) + "\n")
    return npy, meta


def is_pretrained_file(path: str | os.PathLike) -> bool:
    """A k-means file of another tool (textless-lib / fairseq `km.bin`), not one of ours (.npy + .json)."""
    p = Path(path)
    return p.suffix.lower() not in (".npy", ".json") and p.is_file()


def _is_ours(meta: Path) -> bool:
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(info, dict) and info.get("format") == FORMAT


def load_codebook(path: str | os.PathLike, model: str | None = None, layer: int | None = None) -> Codebook:
    """Ours (its own model and layer), or a pretrained scikit-learn k-means file, which does not say which model
    and layer it was fitted on: the caller's `model` and `layer` (textless-lib's are HuBERT base, layer 6)."""
    if is_pretrained_file(path):
        from studio.engine.units.sklearn_kmeans import read_sklearn_centers

        if model is None or layer is None:
            raise ValueError("a pretrained k-means file needs the model and layer it belongs to")
        return Codebook(read_sklearn_centers(path), model, layer)
    npy, meta = sidecar(Path(path))
    remedy = f"A codebook is two files written by Voice Studio: {npy.name} and {meta.name}."
    for p in (npy, meta):
        if not p.exists():
            raise StudioError(f"The codebook file '{p}' does not exist.", remedy)
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        centers = np.load(npy, allow_pickle=False)
    except OSError as e:
        raise describe_os_error(e, npy, "read") from e
    except (ValueError, UnicodeDecodeError, EOFError) as e:
        why = ("the .npy holds pickled Python objects, which Voice Studio does not load" if "pickle" in str(e)
               else str(e).split(". ")[0][:100])
        raise StudioError(f"'{npy.name}' / '{meta.name}' are not a readable codebook ({why}).", remedy) from e
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise StudioError(f"'{meta.name}' is not a Voice Studio codebook description.", remedy)
    if info.get("version") != VERSION:
        raise StudioError(f"'{meta.name}' is codebook version {info.get('version')}; this Voice Studio reads "
                          f"version {VERSION}.", "Fit the codebook again with this version.")
    if centers.dtype.kind != "f":
        raise StudioError(f"'{npy.name}' holds {centers.dtype} values; a codebook holds floating-point centres.",
                          remedy)
    if centers.ndim != 2 or centers.shape[0] < 1 or centers.shape[0] != info.get("k"):
        raise StudioError(f"'{npy.name}' holds a {centers.dtype} array of shape {centers.shape}, not the k = "
                          f"{info.get('k')} centres its description names.", remedy)
    if not np.isfinite(centers).all():
        raise StudioError(f"'{npy.name}' holds NaN or infinite values.", "Fit the codebook again.")
    model, layer = info.get("model"), info.get("layer")
    if not isinstance(model, str) or not isinstance(layer, int) or isinstance(layer, bool) or layer < 0:
        raise StudioError(f"'{meta.name}' does not say which model and layer it belongs to.", remedy)
    return Codebook(centers.astype(np.float32), model, layer)
