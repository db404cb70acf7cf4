"""Checkpoints converted once into safetensors in the cache, so the next start reads tensors instead of parsing and
converting the original (a CTranslate2 model.bin: 0.14 s of the 0.25 s that loading tiny.en took).

An entry is keyed by the source files' paths, sizes and modification times: a changed or reinstalled source
misses the cache and is converted (and checked) again. A cache that cannot be written or read back only costs
that conversion; it never fails a load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import torch

from studio.hub.download import cache_root

FORMAT = 1  # bump when what is stored changes meaning
FOLDER = "voice-studio-converted"
log = logging.getLogger(__name__)


def _fingerprint(files: list[Path]) -> list[list[object]]:
    out: list[list[object]] = []
    for f in files:
        st = f.stat()
        out.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    return out


def _entry(kind: str, source: list[list[object]], cache_dir: str | os.PathLike | None) -> Path:
    key = hashlib.sha1(json.dumps([FORMAT, kind, source]).encode()).hexdigest()[:16]
    return cache_root(cache_dir) / FOLDER / f"{kind}-{key}"


def load_converted(kind: str, files: list[Path], cache_dir: str | os.PathLike | None = None
                   ) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """(meta, tensors) stored for exactly these source files, or None (never stored, source changed, unreadable)."""
    try:
        source = _fingerprint(files)
        entry = _entry(kind, source, cache_dir)
        meta = json.loads((entry / "meta.json").read_text("utf-8"))
        if meta.get("format") != FORMAT or meta.get("source") != source:
            return None
        from safetensors.torch import load_file

        return meta, load_file(entry / "model.safetensors")
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged entry is a cache miss: the source is converted again
        log.warning("converted %s cache unreadable (%s); converting again", kind, e)
        return None


def save_converted(kind: str, files: list[Path], meta: dict, state: dict[str, torch.Tensor],
                   cache_dir: str | os.PathLike | None = None) -> Path | None:
    """Store `state` (and `meta`, JSON) for these source files; a folder renamed into place when complete. Older
    entries converted from the same source paths are removed. None when the cache cannot be written."""
    from safetensors.torch import save_file

    try:
        source = _fingerprint(files)
        entry = _entry(kind, source, cache_dir)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.parent / f".{entry.name}.{uuid.uuid4().hex[:8]}.part"
        tmp.mkdir()
        try:
            # clones: views of one fused tensor (q, k, v) share storage, which safetensors refuses
            save_file({k: v.detach().clone().contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"))
            (tmp / "meta.json").write_text(json.dumps({**meta, "format": FORMAT, "source": source}), "utf-8")
            if entry.exists():
                shutil.rmtree(entry)
            os.replace(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _remove_older(entry, kind, {s[0] for s in source})
        return entry
    except OSError as e:
        log.warning("could not cache the converted %s model (%s)", kind, e)
        return None


def _remove_older(keep: Path, kind: str, paths: set[object]) -> None:
    for other in keep.parent.glob(f"{kind}-*"):
        if other == keep:
            continue
        try:
            meta = json.loads((other / "meta.json").read_text("utf-8"))
            if {s[0] for s in meta.get("source", [])} == paths:
                shutil.rmtree(other, ignore_errors=True)
        except (OSError, ValueError, TypeError):
            continue
