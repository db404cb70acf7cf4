"""studio.outputs: outputs never replace inputs, never leave partial files, and OS errors become messages."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from studio.errors import StudioError
from studio.outputs import atomic_output, check_output, describe_os_error, unique_path, write_text


def test_output_equal_to_input_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "a.wav"
    src.write_bytes(b"RIFF")
    with pytest.raises(StudioError, match="is the input"):
        check_output(tmp_path / "." / "a.wav", [src])
    link = tmp_path / "b.wav"
    os.link(src, link)
    with pytest.raises(StudioError, match="is the input"):
        check_output(link, [src])
    assert src.read_bytes() == b"RIFF"


def test_folder_suffix_and_missing_parent_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StudioError, match="is a folder"):
        check_output(tmp_path, suffixes=[".png"])
    with pytest.raises(StudioError, match="writes .png"):
        check_output(tmp_path / "x.jpg", suffixes=[".png"])
    with pytest.raises(StudioError, match="does not exist"):
        check_output(tmp_path / "nope" / "x.png", suffixes=[".png"])
    assert check_output(tmp_path / "x.PNG", suffixes=[".png"]) == tmp_path / "x.PNG"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_folder_is_a_message(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(StudioError, match="permission denied"):
            check_output(ro / "x.txt")
    finally:
        ro.chmod(0o700)


def test_failed_write_keeps_old_file_and_leaves_no_partial(tmp_path: Path) -> None:
    out = tmp_path / "t.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(out, "w", encoding="utf-8") as f:
        f.write("half")
        raise RuntimeError("crash mid-write")
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]
    write_text(out, "new")
    assert out.read_text() == "new"
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # the user's umask, not mkstemp's 0600


def test_disk_full_message() -> None:
    e = describe_os_error(OSError(errno.ENOSPC, "No space left on device"), "/x/y.wav")
    assert "disk is full" in e.message and e.remedy


def test_unique_path(tmp_path: Path) -> None:
    (tmp_path / "d.txt").write_text("")
    assert unique_path(tmp_path / "d.txt") == tmp_path / "d (2).txt"
    assert unique_path(tmp_path / "e.txt", taken=[tmp_path / "e.txt"]) == tmp_path / "e (2).txt"


def test_a_replaced_output_keeps_its_permissions(tmp_path):
    import os
    import stat

    from studio.outputs import write_bytes

    private = tmp_path / "private.txt"
    private.write_text("old")
    os.chmod(private, 0o600)
    write_bytes(private, b"new")
    assert private.read_bytes() == b"new" and stat.S_IMODE(private.stat().st_mode) == 0o600
