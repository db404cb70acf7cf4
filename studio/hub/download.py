"""Downloads from the Hugging Face Hub into its standard cache layout, so files are shared with other tools.

huggingface_hub does the talking: it builds the URL, resolves the revision, reads the commit, ETag and size
(`get_hf_file_metadata`, which stops at a redirect to a CDN instead of following it with the token), streams
the bytes (`http_get`: Range requests, retries, a `tqdm_class` that we turn into progress and cancel) and finds
cached files (`try_to_load_from_cache`). Three things stay ours because huggingface_hub 2.4 does not do them:
- resume across calls: `hf_hub_download` writes to a temporary file unique to its call and deletes it on any
  failure, a cancel included, so a cancelled 1.5 GB download would start over; we keep `<blob>.incomplete`;
- verification: the bytes must hash to the ETag the Hub gives (sha256 for LFS files, the git blob sha1 for
  the others); a damaged download is deleted, never cached;
- names from the server: the commit and the ETag become folder and file names, so anything but hex is refused
  (`hf_hub_download` builds its blob path from the raw ETag: `../` in it writes outside the cache).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from studio.errors import JobCancelled, StudioError
from studio.outputs import describe_os_error

if TYPE_CHECKING:
    from tqdm import tqdm

_CHUNK = 1 << 18  # bytes between progress reports and cancel checks (huggingface_hub's 10 MiB is ~20 s on a slow line)
_COMMIT = re.compile(r"[0-9a-f]{40}")
_ETAG = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # git blob sha1 (regular files) or sha256 (LFS files)


class WeightsMissingError(StudioError):
    pass


class FileNotOnHubError(WeightsMissingError):
    """The repository exists but has no such file at that revision (a caller may try another format)."""


class DownloadDamagedError(WeightsMissingError):
    """The bytes received do not match the checksum the Hub gave; nothing was kept."""


@dataclass(frozen=True)
class DownloadProgress:
    filename: str
    done: int      # bytes of all files so far
    total: int     # bytes of all files (0 while unknown)


@dataclass(frozen=True)
class _Remote:
    url: str                # where the bytes are: the Hub, or a signed CDN url
    etag: str               # checked against _ETAG: it names the blob
    commit: str             # checked against _COMMIT: it names the snapshot folder
    size: int | None
    send_token: bool        # only to the Hub's own origin


class _Unreachable(Exception):
    """The Hub could not answer (no network, timeout, server error); a cached copy may still do."""


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


def _storage(root: Path, repo_id: str) -> Path:
    return root / f"models--{repo_id.replace('/', '--')}"


def cached_file(repo_id: str, filename: str, revision: str = "main",
                cache_dir: str | os.PathLike | None = None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache_root(cache_dir)), revision=revision)
    return Path(found) if isinstance(found, str) else None


def _missing(repo_id: str, files: Sequence[str], cache_dir: str | os.PathLike | None, why: str) -> WeightsMissingError:
    where = _storage(cache_root(cache_dir), repo_id)
    return WeightsMissingError(
        f"The weights '{repo_id}' ({', '.join(files)}) are not on this computer, and {why}.",
        f"Connect to the internet and try again (they download once, then work offline), or download "
        f"{', '.join(files)} from {_endpoint()}/{repo_id} yourself and import the folder (Import local "
        f"weights…), or place it in the cache at {where}.")


def _not_hub(what: str) -> StudioError:
    return StudioError(f"The server at {_endpoint()} gave {what}: not a Hugging Face Hub answer, so nothing was "
                       f"saved.", "Check HF_ENDPOINT: it must be the Hugging Face Hub or a mirror of it.")


def _inside(path: Path, folder: Path) -> Path:
    """`path` if it stays under `folder` after `..` are resolved (symlinks are not followed), else refused."""
    if Path(os.path.abspath(folder)) not in Path(os.path.abspath(path)).parents:
        raise _not_hub(f"a path outside the cache ('{path}')")
    return path


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _transport_error() -> type[Exception]:
    """What huggingface_hub's HTTP client raises when the network fails (httpx2 in huggingface_hub 2.x)."""
    import httpx2

    return httpx2.HTTPError


def _resolve(repo_id: str, filename: str, revision: str, token: str | bool | None) -> _Remote:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=_endpoint())
    try:
        meta = get_hf_file_metadata(url, token=token, endpoint=_endpoint(), library_name="voice-studio")
    except GatedRepoError:
        raise WeightsMissingError(f"'{repo_id}' is gated: its owners ask you to accept their terms first.",
                                  f"Accept them at {_endpoint()}/{repo_id}, then set HF_TOKEN to a token of "
                                  "that account and try again.") from None
    except RepositoryNotFoundError:
        raise WeightsMissingError(f"The model '{repo_id}' was not found on {_endpoint()}.",
                                  "Check the model name (a private model also needs HF_TOKEN).") from None
    except (RevisionNotFoundError, RemoteEntryNotFoundError):
        raise FileNotOnHubError(f"'{filename}' was not found in '{repo_id}' at revision '{revision}'.",
                                  "Check the model name and revision.") from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise _Unreachable(f"the server answered HTTP {status}") from None
    except (_transport_error(), OSError) as e:  # OfflineModeIsEnabled is a ConnectionError
        raise _Unreachable(f"the server could not be reached ({type(e).__name__})") from None
    etag, commit = meta.etag or "", meta.commit_hash or ""
    if not _COMMIT.fullmatch(commit):
        raise _not_hub(f"'{filename}' the commit {commit!r}")
    if not _ETAG.fullmatch(etag):
        raise _not_hub(f"'{filename}' the checksum (ETag) {etag!r}")
    return _Remote(meta.location, etag, commit, meta.size, _origin(meta.location) == _origin(url))


def _progress_bar(report: Callable[[int], None], cancel: threading.Event | None) -> type[tqdm]:
    """A tqdm for huggingface_hub's `http_get`: draws nothing, reports bytes and stops on cancel.

    `http_get` calls `update` before it writes each chunk, so raising there leaves the partial file a clean
    prefix of the blob that the next call resumes from."""
    from tqdm import tqdm

    class Bar(tqdm):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["disable"] = True  # nothing on the terminal: the studio shows its own progress
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            report(self.n)

        def update(self, n: float | None = 1) -> bool | None:
            if cancel is not None and cancel.is_set():
                raise JobCancelled()
            self.n += n or 0
            report(int(self.n))
            return None

    return Bar


def _checksum(path: Path, etag: str) -> str:
    """sha256 of the file for an LFS ETag (64 hex), else the git blob sha1 (what git names the file by)."""
    if len(etag) == 64:
        h = hashlib.sha256()
    else:
        h = hashlib.sha1(usedforsecurity=False)
        h.update(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _locked(lock: Path, cancel: threading.Event | None) -> Iterator[None]:
    """huggingface_hub's lock for this blob (so its own downloads and ours never write it at once); waiting for
    another process's download still answers a cancel."""
    from filelock import Timeout
    from huggingface_hub.utils import WeakFileLock

    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            with WeakFileLock(lock, timeout=1):
                yield
                return
        except Timeout:
            if cancel is not None and cancel.is_set():
                raise JobCancelled() from None


def _fetch(remote: _Remote, filename: str, blob: Path, lock: Path, token: str | bool | None,
           bar: type[tqdm], cancel: threading.Event | None) -> None:
    """Bring `remote` into `blob`, resuming `<blob>.incomplete`; the blob exists only once its checksum matches."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers(token=token, library_name="voice-studio")
    if not remote.send_token:  # a signed CDN url on another host: the token stays with the Hub
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, _CHUNK)
    with _locked(lock, cancel):
        if blob.exists():  # another process finished it while we waited
            return
        blob.parent.mkdir(parents=True, exist_ok=True)
        partial = blob.with_name(blob.name + ".incomplete")
        have = partial.stat().st_size if partial.exists() else 0
        if remote.size is not None and have > remote.size:
            partial.unlink()
            have = 0
        try:
            with open(partial, "ab") as out:
                http_get(remote.url, out, resume_size=have, headers=headers, expected_size=remote.size,
                         displayed_filename=filename, tqdm_class=bar)
        except OSError as e:
            if e.errno is not None and not isinstance(e, HfHubHTTPError):
                raise  # the disk, not the network: download_files says so
            raise WeightsMissingError(f"The download of '{filename}' stopped: {str(e).splitlines()[0]}",
                                      "Check the connection and try again; the download resumes where it "
                                      "stopped.") from None
        except _transport_error() as e:
            raise WeightsMissingError(f"The download of '{filename}' stopped: {str(e).splitlines()[0]}",
                                      "Check the connection and try again; the download resumes where it "
                                      "stopped.") from None
        got = _checksum(partial, remote.etag)
        if got != remote.etag:
            partial.unlink()  # not kept: resuming would build on the damaged bytes
            kind = "sha256" if len(remote.etag) == 64 else "git sha1"
            raise DownloadDamagedError(
                f"The download of '{filename}' is damaged: its {kind} is {got}, where {remote.etag} was expected.",
                "Nothing was kept; try again. If it happens again, a proxy or the server is changing the file.")
        os.replace(partial, blob)


def _link(blob: Path, pointer: Path) -> None:
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.exists() or pointer.is_symlink():
        pointer.unlink()
    try:
        pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    except OSError:  # no symlinks (Windows without developer mode)
        shutil.copy2(blob, pointer)


def download_files(
    repo_id: str,
    filenames: Sequence[str],
    revision: str = "main",
    cache_dir: str | os.PathLike | None = None,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | None = None,
    token: str | bool | None = None,
) -> dict[str, Path]:
    """Make `filenames` of `repo_id` local; return filename -> path. Cached files are not fetched again.

    `token`: as huggingface_hub takes it (None: HF_TOKEN or the saved login); it is sent to the Hub only.
    Raises WeightsMissingError when offline (HF_HUB_OFFLINE) or the server is unreachable and a file is not
    cached, DownloadDamagedError when the bytes do not match the Hub's checksum, and JobCancelled when `cancel`
    is set (the partial file is kept and resumed next time).
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise WeightsMissingError(f"'{repo_id}' is not a valid Hugging Face model name.",
                                  "Use a name like openai/whisper-small, a size name, or a local path.") from None
    root = cache_root(cache_dir)
    storage = _storage(root, repo_id)
    refs = _inside(storage / "refs" / revision, storage / "refs")
    cached = {f: cached_file(repo_id, f, revision, root) for f in filenames}
    if _offline():
        if all(cached.values()):
            return {f: p for f, p in cached.items() if p is not None}
        raise _missing(repo_id, [f for f, p in cached.items() if p is None], cache_dir, "Voice Studio is offline")

    remotes: dict[str, _Remote] = {}
    for f in filenames:
        if cancel is not None and cancel.is_set():
            raise JobCancelled()
        try:
            remotes[f] = _resolve(repo_id, f, revision, token)
        except _Unreachable as e:
            if cached[f] is None:
                raise _missing(repo_id, [f], cache_dir, str(e)) from None
            # unreachable, but we already have it

    total = sum(r.size or 0 for r in remotes.values())
    done = 0
    out: dict[str, Path] = {}
    for f in filenames:
        remote = remotes.get(f)
        if remote is None:
            out[f] = cached[f]  # type: ignore[assignment]
            continue
        blob = _inside(storage / "blobs" / remote.etag, storage / "blobs")
        pointer = _inside(storage / "snapshots" / remote.commit / f, storage / "snapshots")
        if not pointer.exists():
            def report(n: int, name: str = f, base: int = done) -> None:
                if progress is not None:
                    progress(DownloadProgress(name, base + n, total))
            try:
                if not blob.exists():
                    lock = root / ".locks" / storage.name / f"{remote.etag}.lock"
                    _fetch(remote, f, blob, lock, token, _progress_bar(report, cancel), cancel)
                _link(blob, pointer)
            except OSError as e:
                raise describe_os_error(e, root, "save the download in") from None
        done += remote.size or pointer.stat().st_size
        if revision != remote.commit:
            try:
                refs.parent.mkdir(parents=True, exist_ok=True)
                refs.write_text(remote.commit)
            except OSError as e:
                raise describe_os_error(e, root, "save the download in") from None
        out[f] = pointer
        if progress is not None:
            progress(DownloadProgress(f, done, total))
    return out


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
