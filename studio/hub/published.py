"""Files published at a fixed address outside the Hugging Face Hub, with a known sha256: textless-lib's k-means
quantizers for HuBERT base (dl.fbaipublicfiles.com). Downloaded once into the cache with the Hub downloads'
machinery (studio.hub.download: resume, progress, cancel, the checksum checked before the file is kept); a cached
copy is used without asking the network, so they work offline after the first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from studio.hub.download import (
    DownloadDamagedError,
    DownloadProgress,
    WeightsMissingError,
    _fetch,
    _offline,
    _progress_bar,
    _Remote,
    _transport_error,
    cache_root,
)
from studio.outputs import describe_os_error

DOWNLOADS_DIR = "voice-studio-downloads"


@dataclass(frozen=True)
class PublishedFile:
    name: str      # what a user types or picks: hubert-base-km100
    url: str
    sha256: str    # as textless-lib's checkpoint list gives it
    filename: str  # the name it is kept under


def cached_path(file: PublishedFile, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / DOWNLOADS_DIR / file.name / file.filename


def _reachable(file: PublishedFile, by_hand: str) -> None:
    """One quick request first (its first byte): an unreachable server is said at once, in one line, instead of
    after huggingface_hub's five logged retries of the download itself."""
    from huggingface_hub.utils import get_session

    host = urlsplit(file.url).hostname
    try:
        with get_session().stream("GET", file.url, headers={"Range": "bytes=0-0"}, follow_redirects=True,
                                  timeout=15) as answer:
            status = answer.status_code
    except (_transport_error(), OSError) as e:
        raise WeightsMissingError(f"'{file.name}' is not on this computer, and {host} could not be reached "
                                  f"({type(e).__name__}).",
                                  f"Connect to the internet and try again, {by_hand}") from None
    if status >= 400:
        raise WeightsMissingError(f"{host} answered HTTP {status} for '{file.name}'.", f"Try again later, {by_hand}")


def fetch(file: PublishedFile, cache_dir: str | os.PathLike | None = None,
          progress: Callable[[DownloadProgress], None] | None = None,
          cancel: threading.Event | None = None) -> Path:
    """The local copy of `file`, downloaded on first use. WeightsMissingError offline or when the download fails
    (the partial file is kept and resumed next time), DownloadDamagedError when the bytes do not match the
    sha256 (nothing kept), JobCancelled on `cancel`."""
    path = cached_path(file, cache_dir)
    if path.is_file():
        return path
    by_hand = (f"or download {file.url} yourself and use that file instead ('Load codebook…' in the units row, "
               f"--kmeans FILE in the CLI), or place it at {path}.")
    if _offline():
        raise WeightsMissingError(f"'{file.name}' is not on this computer, and Voice Studio is offline.",
                                  f"Connect to the internet and try again (it downloads once), {by_hand}")

    _reachable(file, by_hand)

    def report(n: int) -> None:
        if progress is not None:
            progress(DownloadProgress(file.filename, n, 0))

    remote = _Remote(file.url, file.sha256, "", None, send_token=False)
    lock = cache_root(cache_dir) / ".locks" / DOWNLOADS_DIR / f"{file.sha256}.lock"
    try:
        _fetch(remote, file.filename, path, lock, None, _progress_bar(report, cancel), cancel)
    except DownloadDamagedError:
        raise
    except WeightsMissingError as e:
        raise WeightsMissingError(e.message, f"Check the connection and try again (the download resumes where it "
                                             f"stopped), {by_hand}") from None
    except OSError as e:
        raise describe_os_error(e, path.parent, "save the download in") from None
    return path
