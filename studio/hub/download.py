"""Downloads into the standard Hugging Face cache layout, so files are shared with other tools.

huggingface_hub resolves URLs, revisions, ETags and auth headers and finds cached files; the transfer itself
is ours so that it can report progress to the worker, stop on cancel and resume a partial file next time
(huggingface_hub discards partial downloads).
"""

from __future__ import annotations

import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.errors import JobCancelled, StudioError

_CHUNK = 1 << 16  # fine enough for smooth progress and a prompt cancel


class WeightsMissingError(StudioError):
    pass


@dataclass(frozen=True)
class DownloadProgress:
    filename: str
    done: int      # bytes of all files so far
    total: int     # bytes of all files (0 while unknown)


def _offline() -> bool:
    """HF_HUB_OFFLINE as it is now; huggingface_hub reads it once at import, so its copy is brought up to date."""
    from huggingface_hub import constants

    offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
    constants.HF_HUB_OFFLINE = offline
    return offline


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Our setting if given, else HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if cache_dir:
        return Path(cache_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface")
    return Path(home) / "hub"


def cached_file(repo_id: str, filename: str, revision: str = "main",
                cache_dir: str | os.PathLike | None = None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache_root(cache_dir)), revision=revision)
    return Path(found) if isinstance(found, str) else None


def _missing(repo_id: str, files: Sequence[str], cache_dir: str | os.PathLike | None, why: str) -> WeightsMissingError:
    where = cache_root(cache_dir) / f"models--{repo_id.replace('/', '--')}"
    return WeightsMissingError(
        f"The weights '{repo_id}' ({', '.join(files)}) are not on this computer, and {why}.",
        f"Connect to the internet and try again (they download once, then work offline), or download "
        f"{', '.join(files)} from {_endpoint()}/{repo_id} yourself and import the folder (Import local "
        f"weights…), or place it in the cache at {where}.")


def download_files(
    repo_id: str,
    filenames: Sequence[str],
    revision: str = "main",
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Path]:
    """Make `filenames` of `repo_id` local; return filename -> path. Cached files are not fetched again.

    Raises WeightsMissingError when offline (HF_HUB_OFFLINE) or the server is unreachable and a file is not
    cached, and JobCancelled when `cancel` is set (the partial file is kept and resumed next time).
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    root = cache_root(cache_dir)
    cached = {f: cached_file(repo_id, f, revision, root) for f in filenames}
    if _offline():
        if all(cached.values()):
            return {f: p for f, p in cached.items() if p is not None}
        raise _missing(repo_id, [f for f, p in cached.items() if p is None], cache_dir, "Voice Studio is offline")

    metas = {}
    headers = build_hf_headers(library_name="voice-studio")
    for f in filenames:
        try:
            metas[f] = get_hf_file_metadata(hf_hub_url(repo_id, f, revision=revision, endpoint=_endpoint()),
                                            headers=headers, endpoint=_endpoint())
        except Exception as e:
            if cached[f] is not None:
                continue  # unreachable or gone online, but we already have it
            if type(e).__name__ in ("RepositoryNotFoundError", "EntryNotFoundError", "RevisionNotFoundError",
                                    "RemoteEntryNotFoundError", "GatedRepoError"):
                raise WeightsMissingError(f"'{f}' was not found in '{repo_id}' at revision '{revision}'.",
                                          "Check the model name and revision.") from None
            raise _missing(repo_id, [f], cache_dir, f"the server could not be reached ({type(e).__name__})") from None

    storage = root / f"models--{repo_id.replace('/', '--')}"
    total = sum(m.size or 0 for m in metas.values())
    done = 0
    out: dict[str, Path] = {}
    for f in filenames:
        meta = metas.get(f)
        if meta is None:
            out[f] = cached[f]  # type: ignore[assignment]
            continue
        etag = (meta.etag or "").strip('"').removeprefix("W/").strip('"')
        commit = meta.commit_hash or revision
        blob = storage / "blobs" / etag
        pointer = storage / "snapshots" / commit / f
        if not blob.exists() or (meta.size is not None and blob.stat().st_size != meta.size):
            def report(n: int, name: str = f, base: int = done) -> None:
                if progress is not None:
                    progress(DownloadProgress(name, base + n, total))
            _fetch(meta.location, blob, meta.size, headers, report, cancel)
        done += meta.size or blob.stat().st_size
        _link(blob, pointer)
        if revision != commit:
            (storage / "refs").mkdir(parents=True, exist_ok=True)
            (storage / "refs" / revision).write_text(commit)
        out[f] = pointer
        if progress is not None:
            progress(DownloadProgress(f, done, total))
    return out


def _fetch(url: str, blob: Path, size: int | None, headers: dict, report: Callable[[int], None],
           cancel: threading.Event | None) -> None:
    blob.parent.mkdir(parents=True, exist_ok=True)
    partial = blob.with_name(blob.name + ".incomplete")
    have = partial.stat().st_size if partial.exists() else 0
    if size is not None and have > size:
        partial.unlink()
        have = 0
    req_headers = dict(headers)
    if have:
        req_headers["Range"] = f"bytes={have}-"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=req_headers), timeout=30) as resp:
            if have and resp.status != 206:  # server ignored the range: start over
                have = 0
            with open(partial, "ab" if have else "wb") as out:
                report(have)
                while chunk := resp.read(_CHUNK):
                    if cancel is not None and cancel.is_set():
                        raise JobCancelled()
                    out.write(chunk)
                    have += len(chunk)
                    report(have)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise WeightsMissingError(f"The download of {blob.parent.parent.name} stopped: {e}.",
                                  "Check the connection and try again; the download resumes where it "
                                  "stopped.") from None
    if size is not None and have != size:
        raise WeightsMissingError(f"The download stopped at {have} of {size} bytes.",
                                  "Try again; it resumes where it stopped.")
    partial.replace(blob)


def _link(blob: Path, pointer: Path) -> None:
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.exists() or pointer.is_symlink():
        pointer.unlink()
    try:
        pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    except OSError:  # no symlinks (Windows without developer mode)
        shutil.copy2(blob, pointer)


def import_local(source: str | os.PathLike, name: str, root: str | os.PathLike) -> Path:
    """Copy a checkpoint file or folder into `root/name` so it is found offline; returns the new path."""
    src = Path(source)
    if not src.exists():
        raise WeightsMissingError(f"'{src}' does not exist.", "Choose the checkpoint file or folder.")
    dest = Path(root) / name
    dest.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest / src.name)
    return dest
