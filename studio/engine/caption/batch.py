"""Captioning a folder for a dataset: which files are pictures, their `.txt` sidecars (the kohya / dataset-tool
convention: `photo.jpg` -> `photo.txt`, an optional trigger word in front), and the table as CSV or JSON. No
Qt and no torch: the CLI and the Caption panel's folder view share it."""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from pathlib import Path

from studio.errors import StudioError
from studio.outputs import check_output, describe_os_error, write_text

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def images_in(folder: str | os.PathLike) -> list[Path]:
    """The pictures directly in `folder` (by suffix, sorted by name, hidden files left out)."""
    folder = Path(folder)
    try:
        found = sorted((p for p in folder.iterdir()
                        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()),
                       key=lambda p: p.name.lower())
    except OSError as e:
        raise describe_os_error(e, folder, "read") from e
    if not found:
        raise StudioError(f"The folder '{folder}' holds no pictures.",
                          f"Choose a folder with pictures ({', '.join(IMAGE_SUFFIXES)}).")
    return found


def sidecar_of(image: Path) -> Path:
    return image.with_suffix(".txt")


def shared_sidecars(images: list[Path]) -> set[Path]:
    """Pictures whose sidecar another picture in the list would also write (`a.jpg` and `a.png`)."""
    counts = Counter(sidecar_of(p) for p in images)
    return {p for p in images if counts[sidecar_of(p)] > 1}


def read_sidecar(image: Path) -> tuple[str | None, str]:
    """(the caption already beside `image` or None, why it could not be read or ""). No sidecar: (None, "")."""
    target = sidecar_of(image)
    if not target.exists():
        return None, ""
    if target.is_dir():
        return None, f"{target.name} is a folder"
    try:
        return target.read_text("utf-8").strip(), ""
    except UnicodeDecodeError:
        return None, f"{target.name} is not UTF-8 text"
    except OSError as e:
        return None, describe_os_error(e, target.name, "read").message


def one_line(text: str) -> str:
    """A sidecar caption is one line: newlines and tabs become spaces (tools read the first line only)."""
    return " ".join(text.replace("\r", "\n").split("\n")).replace("\t", " ")


def with_prefix(prefix: str, caption: str) -> str:
    """`prefix` + caption on one line, the prefix once: a caption that already starts with the trigger word keeps
    a single copy."""
    prefix, caption = one_line(prefix), one_line(caption).strip()
    return caption if not prefix.strip() or caption.startswith(prefix) else prefix + caption


def write_sidecar(image: Path, caption: str, prefix: str = "", overwrite: bool = False,
                  how_to_overwrite: str = "Tick 'Replace existing .txt' to write it.") -> Path:
    """Write `image`'s sidecar (atomically). An existing one is replaced only with `overwrite`."""
    target = sidecar_of(image)
    if target.is_dir():
        raise StudioError(f"'{target.name}' is a folder, so the caption cannot be written there.",
                          "Rename or move that folder, then write the sidecar again.")
    if target.exists() and not overwrite:
        raise StudioError(f"'{target.name}' exists; its caption was not replaced.", how_to_overwrite)
    check_output(target, [image], [".txt"])
    return write_text(target, with_prefix(prefix, caption) + "\n")


def export_table(rows: list[tuple[Path, str]], path: str | os.PathLike, prefix: str = "") -> Path:
    """The (picture, caption) table as .csv (file,caption) or .json ([{"file", "caption"}]), atomically."""
    path = Path(path)
    check_output(path, [p for p, _c in rows], [".csv", ".json"])
    items = [(str(p), with_prefix(prefix, c)) for p, c in rows]  # as the sidecars say them
    if path.suffix.lower() == ".json":
        text = json.dumps([{"file": f, "caption": c} for f, c in items], ensure_ascii=False, indent=1) + "\n"
    else:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["file", "caption"])
        writer.writerows(items)
        text = buf.getvalue()
    return write_text(path, text)
