"""The public pretrained k-means quantizers of textless-lib / GSLM: k = 50, 100, 200 and 500 units of HuBERT base
(hubert_base_ls960, the same weights as facebook/hubert-base-ls960) at layer 6, fitted on LibriSpeech. Picked by
name (`hubert-base-km100`), downloaded once from their published address, checked against textless-lib's
sha256, and read without running their pickle (studio.engine.units.sklearn_kmeans)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from studio.engine.units.codebook import Codebook
from studio.engine.units.sklearn_kmeans import read_sklearn_centers
from studio.errors import StudioError
from studio.hub.checkpoint_io import looks_like_path
from studio.hub.download import DownloadProgress, _checksum
from studio.hub.published import PublishedFile, fetch

MODEL, LAYER = "hubert-base", 6
_SHA256 = {50: "d01a7d5bc2c54b7b5f25f321ba525b4d230b06e3927f90bad0394198bc89f494",
           100: "f14a3104615485381fc489701d6761c9abbdbb0d43607cf55518a1e2891023fe",
           200: "b3c46c9cdd1707ad852dd53c359aa73942e79d53c432a9a8a419ed046408024b",
           500: "411c8668e1314751404f58636f935fc73540a6793890435da4a8ffadf157398e"}
PRETRAINED = {f"hubert-base-km{k}": PublishedFile(
    f"hubert-base-km{k}", f"https://dl.fbaipublicfiles.com/textless_nlp/gslm/hubert/km{k}/km.bin", sha, "km.bin")
    for k, sha in _SHA256.items()}


def pretrained_k(name: str) -> int:
    return int(name.rsplit("km", 1)[1])


def pretrained_name(text: str) -> str | None:
    """The pretrained codebook `text` names (in any case), or None where it names none (a path, say); a name of
    the form with a k textless-lib does not publish (hubert-base-km7) is refused with the ones it does."""
    if looks_like_path(text):
        return None
    key = text.lower()
    if key in PRETRAINED:
        return key
    if re.fullmatch(r"hubert-base-km\d+", key):
        raise StudioError(f"textless-lib publishes no k-means '{text}'.",
                          f"Use {', '.join(PRETRAINED)}, a codebook saved by Voice Studio, or a km.bin file.")
    return None


def is_pretrained_name(text: str | os.PathLike | None) -> bool:
    """True for the names of PRETRAINED exactly, as the units row and the jobs pass them."""
    return isinstance(text, str) and text in PRETRAINED


def verify(file: PublishedFile, path: os.PathLike) -> None:
    """A file at the cache path that is not the published one (placed by hand, or damaged since) is said, with
    its path: it is not ours to delete."""
    got = _checksum(Path(path), file.sha256)  # sha256, as the downloads check theirs
    if got != file.sha256:
        raise StudioError(f"The cached '{file.name}' at {path} is not textless-lib's file (its sha256 is "
                          f"{got[:16]}…, the published one {file.sha256[:16]}…).",
                          f"Delete it to download it again, or download {file.url} yourself to that path.")


def load_pretrained(name: str, cache_dir: str | os.PathLike | None = None,
                    progress: Callable[[DownloadProgress], None] | None = None,
                    cancel: threading.Event | None = None) -> Codebook:
    file = PRETRAINED[name]
    path = fetch(file, cache_dir, progress, cancel)
    verify(file, path)  # also each later use: a few hundred kB
    return Codebook(read_sklearn_centers(path), MODEL, LAYER)
