"""Writing files the user asked for without ever destroying an input or leaving half a file behind.

Every output goes through `atomic_output`: the bytes land in a hidden temporary file in the destination folder
and are renamed into place only when complete, so a full disk, a crash or Ctrl-C leaves the old file (or no
file) rather than a partial one. `check_output` runs before any work, so a bad path fails in a second, not after
an hour of decoding. OS errors become one-line `StudioError`s with a remedy.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from studio.errors import StudioError


def describe_os_error(e: OSError, path: str | os.PathLike, action: str = "write") -> StudioError:
    """A message and a remedy for an OSError raised while reading or writing `path`."""
    where = f"'{path}'"
    remedies = {
        errno.ENOSPC: ("the disk is full", "Free some space or choose another folder."),
        errno.EDQUOT: ("the disk quota is exhausted", "Free some space or choose another folder."),
        errno.EACCES: ("permission denied", "Choose a folder you can write to, or change its permissions."),
        errno.EPERM: ("the operation is not permitted", "Choose a folder you can write to."),
        errno.EROFS: ("the file system is read-only", "Choose a folder on a writable disk."),
        errno.ENOENT: ("the folder does not exist", "Create the folder first or choose another path."),
        errno.EISDIR: ("it is a folder", "Give a file name, not a folder."),
        errno.ENOTDIR: ("a part of the path is not a folder", "Check the path."),
        errno.ENAMETOOLONG: ("the name is too long", "Choose a shorter name."),
        errno.EFBIG: ("the file is too large for this file system", "Choose another disk."),
        errno.EIO: ("the device reported an input/output error", "Check the disk or choose another one."),
    }
    reason, remedy = remedies.get(e.errno or -1, (e.strerror or type(e).__name__, "Check the path and the disk."))
    if action == "read" and e.errno in (errno.EACCES, errno.EPERM):
        remedy = "Check the file's permissions (chmod u+r), or copy it somewhere you can read it."
    if action == "read" and e.errno == errno.ENOENT:  # the file itself, not a folder to create
        reason, remedy = "it does not exist", "Check the path: the file may have been moved, renamed or deleted."
    return StudioError(f"Cannot {action} {where}: {reason.rstrip('.')}.", remedy)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when both paths name one file (hard links, symlinks and `./x` vs `x` included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(os.path.abspath(a)) == Path(os.path.abspath(b))


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (),
                 suffixes: Iterable[str] | None = None) -> Path:
    """Refuse, before any work, an output that would overwrite an input, names a folder, has a suffix we do not
    write, or lies in a folder that is missing or not writable. Returns the path."""
    path = Path(path)
    if len(path.name.encode()) > 255:
        raise StudioError(f"Cannot write '{path.name[:40]}…': the name is too long ({len(path.name.encode())} bytes; "
                          "file systems allow 255).", "Choose a shorter name.")
    for source in inputs:
        if same_file(path, source):
            raise StudioError(f"The output '{path}' is the input file.",
                              "Choose another output name: Voice Studio never overwrites its input.")
    try:
        is_dir = path.is_dir()
    except OSError as e:  # a folder name in the path that is too long, a loop of links
        raise describe_os_error(e, path) from e
    if is_dir or str(path).endswith(os.sep):
        raise StudioError(f"The output '{path}' is a folder.", "Give a file name, for example "
                          f"'{path / ('out' + next(iter(suffixes or ['']), ''))}'.")
    if path.is_file() and not path.stat().st_mode & 0o200:  # made read-only by its owner: not ours to replace
        raise StudioError(f"The output '{path}' exists and is read-only.",
                          "Choose another name or folder, or make it writable (chmod u+w) to replace it.")
    if suffixes is not None:
        allowed = [s.lower() for s in suffixes]
        if path.suffix.lower() not in allowed:
            raise StudioError(f"Cannot write '{path.name}': Voice Studio writes {', '.join(allowed)} here.",
                              f"Use a file name ending in {' or '.join(allowed)}.")
    check_folder(path.parent if str(path.parent) else Path("."))
    return path


def check_folder(folder: str | os.PathLike, create: bool = False) -> Path:
    """The folder exists (or is created when `create`) and we can make files in it."""
    folder = Path(folder)
    if create and not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise describe_os_error(e, folder, "create the folder") from e
    if not folder.exists():
        raise StudioError(f"The folder '{folder}' does not exist.", "Create it first or choose another path.")
    if not folder.is_dir():
        raise StudioError(f"'{folder}' is not a folder.", "Check the path.")
    # os.access is wrong for root on read-only mounts and for ACLs: really create a file
    try:
        fd, probe = tempfile.mkstemp(prefix=".studio-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise describe_os_error(e, folder, "write in") from e
    return folder


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb",
                  encoding: str | None = None) -> Iterator[IO]:  # type: ignore[type-arg]
    """Open a temporary file beside `path`; on success it replaces `path`, on any error it is removed."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        # a short name: a target name near the 255-byte limit must still get its temporary file
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".part", dir=folder)
    except OSError as e:
        raise describe_os_error(e, path) from e
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        try:  # a replaced file keeps its permissions (a private 0600 output stays private)
            mode_bits = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:  # a new file: mkstemp made it 0600; it gets the user's usual permissions
            mode_bits = 0o666 & ~_UMASK
        os.chmod(tmp, mode_bits)
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise describe_os_error(e, path) from e
    except BaseException:
        _remove(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_output(path) as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_output(path, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


def unique_path(path: str | os.PathLike, taken: Iterable[Path] = ()) -> Path:
    """`path`, or `name (2).ext`, `name (3).ext`… — the first that neither exists nor is in `taken`."""
    path = Path(path)
    taken = {Path(os.path.abspath(p)) for p in taken}
    candidate, n = path, 1
    while candidate.exists() or Path(os.path.abspath(candidate)) in taken:
        n += 1
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
    return candidate


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide and racy between threads


def _remove(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)
