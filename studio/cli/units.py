"""`studio units IN`: HuBERT / wav2vec 2.0 features and k-means units of a recording, for scripts.

Units go to stdout (or --out) as one line of space-separated ids, one per 20 ms frame, or with --runs one line per
run of equal units: `start<TAB>end<TAB>unit`, in seconds. The codebook is a saved one (--kmeans), one fitted on
other recordings (--fit), or else one fitted on IN itself; --save-kmeans keeps a fitted one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from studio.cli.types import int_range
from studio.errors import StudioError

DEFAULT_MODEL = "hubert-base"
DEFAULT_LAYER = 6
DEFAULT_K = 100


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("units", help="speech units: HuBERT / wav2vec 2.0 features and their k-means ids",
                       description="Prints the units of IN as one line of space-separated ids (50 per second), "
                       "or with --runs one `start<TAB>end<TAB>unit` line per run of equal units.")
    p.add_argument("input", type=Path, metavar="IN")
    p.add_argument("--model", default=None, help=f"{DEFAULT_MODEL} (default), hubert-large, wav2vec2-base "
                   "(downloaded once), a Hub repo id, a Hugging Face folder, a torchaudio .pth or a fairseq .pt; "
                   "with --kmeans, the codebook's model")
    p.add_argument("--layer", type=int_range(0, 48), default=None,
                   help=f"transformer layer whose output is used (default {DEFAULT_LAYER}, or the codebook's)")
    p.add_argument("--k", type=int_range(2, 4096), default=None, help=f"units to fit (default {DEFAULT_K}; 50 and "
                   "200 are the usual other choices)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--kmeans", default=None, metavar="FILE",
                     help="a saved codebook (FILE.npy with FILE.json beside it); textless-lib's pretrained ones for "
                     "HuBERT base layer 6 by name, hubert-base-km50, -km100, -km200 or -km500 (downloaded once); or "
                     "a textless-lib / fairseq km.bin file (read without running its pickle; for HuBERT base layer 6 "
                     "unless --model / --layer say)")
    how.add_argument("--fit", type=Path, nargs="+", default=None, metavar="FILES",
                     help="fit the codebook on these recordings (default: on IN itself)")
    p.add_argument("--save-kmeans", default=None, metavar="FILE",
                   help="write the fitted codebook to FILE.npy and FILE.json")
    p.add_argument("--seed", type=int_range(0, 2**31 - 1), default=0, help="k-means seed (default 0)")
    p.add_argument("--features", type=Path, default=None, metavar="OUT.npy",
                   help="write the layer's features, float32 (frames, dim); alone, no units are computed")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="write the units here, not to stdout")
    p.add_argument("--runs", action="store_true", help="one line per run of equal units, with times")


def _print(text: str) -> None:
    """The units to standard output, or a message where there is none (closed, full)."""
    if sys.stdout is None:
        raise StudioError("There is no standard output to print the units to (it is closed).",
                          "Write them to a file with --out FILE.")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as e:
        raise StudioError(f"The units could not be printed ({e.strerror or e}).",
                          "Write them to a file with --out FILE.") from None


def _text(result: object, runs: bool) -> str:
    from studio.engine.units.result import UnitsResult

    assert isinstance(result, UnitsResult)
    if not runs:
        return " ".join(map(str, result.units.tolist())) + "\n"
    return "".join(f"{result.seconds(r.first_frame):.2f}\t{result.seconds(r.first_frame + r.frames):.2f}\t{r.unit}\n"
                   for r in result.runs())


def _moved_model(codebook: object, model_name: str, named: bool) -> object:
    """A codebook fitted on a local model that has since moved (its recorded folder is gone): the model the user
    names now is taken, with a note; the dimension is still checked. Anything else is left to check_fits."""
    import os

    from studio.engine.units.codebook import Codebook

    assert isinstance(codebook, Codebook)
    was = codebook.model
    if named and was != model_name and os.path.isabs(was) and not os.path.exists(was):
        print(f"note: the codebook was fitted on {was}, which is gone; using {model_name}", file=sys.stderr)
        return Codebook(codebook.centers, model_name, codebook.layer)
    return codebook


def run(args: argparse.Namespace, progress: Callable[[float, str], None]) -> int:
    import contextlib
    import os

    from studio.audio.io import load_audio
    from studio.engine.units.codebook import is_pretrained_file, load_codebook, save_codebook, sidecar
    from studio.engine.units.features import NpyRows, check_layer, iter_features
    from studio.engine.units.kmeans import check_frames
    from studio.engine.units.pretrained import PRETRAINED, load_pretrained, pretrained_name
    from studio.engine.units.units import fit_and_assign, fit_codebook, units_of
    from studio.hub.download import cache_root
    from studio.hub.hubert_weights import load_encoder, model_files, model_identity
    from studio.hub.published import cached_path
    from studio.models.hubert import SAMPLE_RATE
    from studio.outputs import atomic_output, check_output, same_file, write_text

    inputs = [args.input, *(args.fit or [])]
    for f in inputs:
        if not f.exists():
            raise StudioError(f"File not found: {f}.", "Check the path.")
    for flag, value in (("--model", args.model), ("--kmeans", args.kmeans), ("--save-kmeans", args.save_kmeans)):
        if value is not None and not value.strip():
            raise StudioError(f"{flag} is empty.", f"Give {flag} a name (or leave it out).")
        if flag != "--model" and value is not None and value.endswith(("/", os.sep)):  # a model may be a folder
            raise StudioError(f"{flag} '{value}' is a folder, not a codebook's file name.",
                              "Give the codebook's file name, e.g. units-k100.npy.")
    if args.save_kmeans is not None and args.kmeans is not None:
        raise StudioError("--save-kmeans writes a fitted codebook; with --kmeans nothing is fitted.",
                          "Leave out one of the two.")
    codebook = None
    named = pretrained_name(args.kmeans) if args.kmeans is not None else None  # a bare word, not ./word
    kmeans = Path(args.kmeans) if args.kmeans is not None else None
    if named is not None:  # hubert-base-km100: downloaded once
        codebook = load_pretrained(named, progress=lambda p: progress(
            0.0, f"downloading the k-means {named} ({p.done >> 10} kB)"))
        inputs.append(cached_path(PRETRAINED[named]))
    elif kmeans is not None and is_pretrained_file(kmeans):  # textless-lib's km.bin: says no model
        codebook = load_codebook(kmeans, model_identity(args.model) if args.model else DEFAULT_MODEL,
                                 DEFAULT_LAYER if args.layer is None else args.layer)
        inputs.append(kmeans)
    elif kmeans is not None:
        codebook = load_codebook(kmeans)
        inputs += list(sidecar(kmeans))
    model_name = model_identity(args.model) if args.model else (codebook.model if codebook else DEFAULT_MODEL)
    inputs += model_files(model_name)  # an output must never replace the model's own files
    outputs = [(f"--{name.replace('_', '-')}", Path(p)) for name, p in (("features", args.features), ("out", args.out))
               if p is not None]
    if args.save_kmeans is not None:
        outputs += [("--save-kmeans", p) for p in sidecar(Path(args.save_kmeans))]
    cache = os.path.realpath(cache_root())
    for i, (flag, out) in enumerate(outputs):
        check_output(out, inputs, [".npy"] if flag == "--features" else None)
        if os.path.realpath(out).startswith(cache + os.sep):  # the downloaded models and k-means live there
            raise StudioError(f"{flag} '{out}' is inside Voice Studio's model cache ({cache}).",
                              "Write outputs somewhere else: the cache holds downloaded models and codebooks.")
        for other_flag, other in outputs[:i]:
            if same_file(out, other):
                raise StudioError(f"{other_flag} and {flag} both name '{out}'.", "Give each output its own name.")
    only_features = args.features is not None and not (args.kmeans or args.fit or args.out or args.runs
                                                         or args.save_kmeans)
    layer = args.layer if args.layer is not None else (codebook.layer if codebook else DEFAULT_LAYER)
    where = f"'{named or (kmeans.name if kmeans else '')}'"
    if codebook is not None and kmeans is not None and not is_pretrained_file(kmeans):
        codebook = _moved_model(codebook, model_name, args.model is not None)
        codebook.check_fits(model_name, layer, codebook.dim, where)
    if codebook is not None and args.k is not None and args.k != codebook.k:
        print(f"note: --k {args.k} is not used: the codebook holds k = {codebook.k}", file=sys.stderr)
    k = args.k or DEFAULT_K

    wave = load_audio(args.input, SAMPLE_RATE)
    fit_waves = [load_audio(f, SAMPLE_RATE) for f in args.fit] if args.fit else []
    loaded = load_encoder(model_name, progress=lambda p: progress(p.done / max(1, p.total),
                                                                   f"downloading {p.filename}"))
    check_layer(loaded, layer)
    if codebook is not None:
        codebook.check_fits(loaded.name, layer, loaded.model.cfg.hidden_size, where)
    frames = sum(loaded.model.cfg.frames(w.shape[0]) for w in (fit_waves or [wave]))
    if not only_features and codebook is None and frames:  # said before minutes of features, not after (no
        check_frames(frames, k)  # frames at all: the features' "shorter than one frame" says it better)
    if fit_waves:
        codebook = fit_codebook(fit_waves, loaded, layer, k, seed=args.seed,
                                progress=lambda f: progress(0.5 * f, "fitting k-means on --fit"))

    frames, dim = loaded.model.cfg.frames(wave.shape[0]), loaded.model.cfg.hidden_size
    step = (lambda f: progress(0.5 + 0.5 * f, "features")) if fit_waves else (lambda f: progress(f, "features"))
    with contextlib.ExitStack() as outputs:  # --features is written as the blocks come; removed on any failure
        sink = None
        if args.features is not None:
            sink = NpyRows(outputs.enter_context(atomic_output(args.features)), frames, dim)
        if only_features:
            for block in iter_features(wave, loaded, layer, progress=step):
                sink(block.features.numpy())  # type: ignore[misc]
        elif codebook is not None:
            result = units_of(wave, loaded, codebook, progress=step, sink=sink)
        else:
            result, codebook = fit_and_assign(wave, loaded, layer, k, seed=args.seed, progress=step, sink=sink)
        if sink is not None:
            sink.finish()
    if only_features:
        progress(1.0, "Done")
        print(f"Wrote {args.features}: {frames} frames x {dim} ({loaded.name} layer {layer})", file=sys.stderr)
        return 0
    assert codebook is not None
    if args.save_kmeans is not None:
        save_codebook(codebook, args.save_kmeans)
    progress(1.0, "Done")
    text = _text(result, args.runs)
    if args.out is not None:
        write_text(args.out, text)
    else:
        _print(text)
    used = int((result.histogram() > 0).sum())
    print(f"{loaded.name} layer {layer}, k = {codebook.k}: {result.units.size} frames, "
          f"{len(result.run_starts())} runs, {used} units used", file=sys.stderr)
    return 0
