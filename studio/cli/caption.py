"""`studio caption IMAGE...|FOLDER`: BLIP captions for scripts and dataset building; one line per image
(`path<TAB>caption`) or JSON, optional .txt sidecars and the cross-attention of every token."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from studio.cli.types import int_range
from studio.errors import StudioError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("caption", help="describe images (BLIP); folders are captioned image by image",
                       description="Prints one `path<TAB>caption` line per picture (a newline, tab or backslash in "
                       "a name is written \\n, \\t, \\\\) or, with --json, one JSON object per picture.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="IMAGE_OR_FOLDER")
    p.add_argument("--model", default="base", help="base (default) or large (downloaded once), a Hub repo id, or "
                   "a Hugging Face BLIP folder")
    p.add_argument("--prompt", default="", help='the caption starts with this text, e.g. "a picture of"')
    p.add_argument("--beam-size", type=int_range(1, 16), default=1, help="1 (greedy, default) to 16")
    p.add_argument("--max-length", type=int_range(1, 200), default=20, help="at most this many tokens (1-200)")
    p.add_argument("--min-length", type=int_range(0, 200), default=0, help="at least this many tokens")
    p.add_argument("--no-repeat-ngram", type=int_range(0, 10), default=0,
                   help="never repeat a phrase of this many tokens (3 stops 'a hat on top of a hat…'); 0 = off")
    p.add_argument("--sidecar", action="store_true", help="write <image>.txt beside each image")
    p.add_argument("--prefix", default="", help="text put before each sidecar caption (a trigger word)")
    p.add_argument("--overwrite", action="store_true", help="replace existing sidecar .txt files (and files "
                   "--save-attention would write)")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.add_argument("--save-attention", type=Path, default=None, metavar="DIR",
                   help="write <stem>.npz (tokens, text, cross_attention) and <stem>.png overlays per image "
                   "(<stem>-<suffix> where two pictures share a stem); existing files only with --overwrite")
    p.add_argument("--precision", choices=("float32", "fast"), default="float32",
                   help="float32 (default): transformers' captions exactly; fast: on a CPU an int8 decoder and, where "
                   "the CPU runs it faster, a bfloat16 image encoder, captions may differ in close calls")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")


def images_of(inputs: list[Path]) -> list[Path]:
    """Files as given; folders expanded to their pictures (sorted, not recursive); a picture named twice (as a
    file and through its folder) once."""
    from studio.engine.caption.batch import images_in

    out: list[Path] = []
    seen: set[Path] = set()
    for p in inputs:
        for image in images_in(p) if p.is_dir() else [p]:
            key = Path(os.path.abspath(image))
            if key not in seen:
                seen.add(key)
                out.append(image)
    return out


def attention_outputs(folder: Path, images: list[Path]) -> dict[Path, tuple[Path, Path]]:
    """Per picture the .npz and .png --save-attention writes: `<stem>`, or `<stem>-<suffix>` where two inputs
    share a stem (x.jpg and x.png would overwrite each other's files)."""
    from collections import Counter

    stems = Counter(p.stem for p in images)
    out = {}
    for p in images:
        name = p.stem if stems[p.stem] == 1 else f"{p.stem}-{p.suffix.lstrip('.').lower()}"
        out[p] = (folder / f"{name}.npz", folder / f"{name}.png")
    return out


def _check_outputs(args: argparse.Namespace, images: list[Path]) -> dict[Path, tuple[Path, Path]]:
    """Before the model loads: every folder written to is writable, no output is an input, and no file already
    there is replaced without --overwrite."""
    from studio.engine.caption.batch import sidecar_of
    from studio.outputs import check_folder, check_output

    if args.sidecar:
        for parent in sorted({p.parent for p in images}):
            check_folder(parent)
    if args.save_attention is None:
        return {}
    check_folder(args.save_attention, create=True)
    outputs = attention_outputs(args.save_attention, images)
    written = [q for pair in outputs.values() for q in pair]
    for q in written:
        check_output(q, images + ([sidecar_of(p) for p in images] if args.sidecar else []))
    there = [q for q in written if q.exists()]
    if there and not args.overwrite:
        more = f" and {len(there) - 1} more" if len(there) > 1 else ""
        raise StudioError(f"'{there[0]}'{more} already exist(s); --save-attention would replace them.",
                          "Choose an empty folder for --save-attention, or add --overwrite.")
    return outputs


def _line(text: str) -> str:
    """One field of a `path<TAB>caption` line: a newline or tab in a file name cannot break the line."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def run(args: argparse.Namespace, progress: Callable[[float, str], None]) -> int:
    images = images_of(args.inputs)
    if args.min_length > args.max_length:
        raise StudioError(f"--min-length {args.min_length} is above --max-length {args.max_length}.",
                          "Lower --min-length or raise --max-length.")
    outputs = _check_outputs(args, images)
    from studio.engine.caption.batch import shared_sidecars, sidecar_of, write_sidecar
    from studio.engine.caption.caption import Captioner
    from studio.engine.caption.decoding import DecodeOptions
    from studio.hub.blip_weights import load_blip
    from studio.worker.thread import resolve_device

    model, folder = load_blip(args.model, progress=lambda p: progress(p.done / max(1, p.total),
                                                                       f"downloading {p.filename}"))
    captioner = Captioner(model, folder, resolve_device(args.device), args.precision)
    options = DecodeOptions(beam_size=args.beam_size, max_new_tokens=args.max_length,
                            min_new_tokens=args.min_length, no_repeat_ngram_size=args.no_repeat_ngram)
    captioner.check(args.prompt, options)
    clashes = shared_sidecars(images) if args.sidecar else set()
    failed = 0
    for path in images:
        try:
            result = captioner.caption(path, args.prompt, options, capture=args.save_attention is not None)
        except StudioError as e:
            failed += 1
            print(f"error: {path}: {e.message}" + (f" {e.remedy}" if e.remedy else ""), file=sys.stderr)
            continue
        if args.json:  # the caption is printed even when a file below cannot be written: it is not lost
            print(json.dumps({"path": str(path), "caption": result.text,
                              "beams": [{"caption": c.text, "score": c.score} for c in result.candidates]},
                             ensure_ascii=False), flush=True)
        else:
            print(f"{_line(str(path))}\t{_line(result.text)}", flush=True)
        try:
            if args.sidecar:
                if path in clashes:
                    raise StudioError(f"'{sidecar_of(path).name}' would hold the caption of more than one picture "
                                      "with this name.", "Rename the pictures so their names differ.")
                write_sidecar(path, result.text, args.prefix, args.overwrite, "Add --overwrite to replace it.")
            if args.save_attention is not None:
                _save_attention(*outputs[path], path, result)
        except StudioError as e:
            failed += 1
            print(f"error: {path}: {e.message}" + (f" {e.remedy}" if e.remedy else ""), file=sys.stderr)
    return 2 if failed else 0


def _save_attention(npz: Path, png: Path, image: Path, result: object) -> None:
    import io

    import numpy as np

    from studio.engine.caption.image import open_image
    from studio.engine.caption.overlay import token_sheet
    from studio.engine.render import write_png
    from studio.outputs import write_bytes

    r = result  # a CaptionResult
    buf = io.BytesIO()
    np.savez(buf, tokens=np.asarray(r.tokens, np.int64), text=np.array(r.text),  # type: ignore[attr-defined]
             cross_attention=r.cross_attention)  # type: ignore[attr-defined]
    write_bytes(npz, buf.getvalue())
    picture = np.asarray(open_image(image))
    maps = [r.patch_map(i) for i in range(len(r.tokens))]  # type: ignore[attr-defined]
    write_png(png, token_sheet(picture, maps, r.pieces))  # type: ignore[attr-defined]
