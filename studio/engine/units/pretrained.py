"""The public pretrained k-means quantizers of textless-lib / GSLM: k = 50, 100, 200 and 500 units of HuBERT base
(hubert_base_ls960, the same weights as facebook/hubert-base-ls960) at layer 6, fitted on LibriSpeech. Picked by
name (`hubert-base-km100`), downloaded once from their published address, checked against textless-lib's
sha256, and read without running their pickle (studio.engine.units.sklearn_kmeans)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from studio.engine.units.codebook import Codebook
from studio.engine.units.sklearn_kmeans import read_sklearn_centers
from studio.hub.download import DownloadProgress
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


def is_pretrained_name(text: str | os.PathLike | None) -> bool:
    return isinstance(text, str) and text in PRETRAINED


def load_pretrained(name: str, cache_dir: str | os.PathLike | None = None,
                    progress: Callable[[DownloadProgress], None] | None = None,
                    cancel: threading.Event | None = None) -> Codebook:
    path = fetch(PRETRAINED[name], cache_dir, progress, cancel)
    return Codebook(read_sklearn_centers(path), MODEL, LAYER)
