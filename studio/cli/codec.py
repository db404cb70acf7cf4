"""`studio codec encode|decode|stats`: the Codec panel's engine from the command line.

Outputs are checked before any work (never the input, a suffix we write, a writable folder) and written to a
temporary file renamed into place when complete; audio of any length is read, coded and decoded in blocks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from studio.cli.types import int_range
from studio.errors import StudioError

BANDWIDTHS = (1.5, 3.0, 6.0, 12.0, 24.0)  # kbps the 24 kHz model offers; the 48 kHz one all but 1.5
CODE_SUFFIXES = (".ecdc", ".npz")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")  # studio.engine.codec.analysis.AUDIO_FORMATS (not imported: no torch)


def _bandwidth(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = float("nan")
    if value not in BANDWIDTHS:  # nan is in nothing
        raise argparse.ArgumentTypeError(f"'{text}' is not an offered bandwidth: use one of "
                                         f"{', '.join(f'{b:g}' for b in BANDWIDTHS)} (kbps)")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("codec", help="EnCodec: audio <-> codes (.ecdc / .npz), per-codebook statistics")
    cmds = p.add_subparsers(dest="codec_command", metavar="ACTION", required=True)
    enc = cmds.add_parser("encode", help="audio -> codes")
    enc.add_argument("input", type=Path)
    enc.add_argument("output", type=Path, help="out.ecdc (EnCodec's compressed format) or out.npz (VALL-E-X)")
    enc.add_argument("--bandwidth", "-b", type=_bandwidth, default=6.0,
                     help="kbps: 1.5, 3, 6, 12 or 24 (the 48 kHz model: 3 to 24)")
    dec = cmds.add_parser("decode", help="codes -> audio")
    dec.add_argument("input", type=Path)
    dec.add_argument("output", type=Path, help="out.wav, out.flac or out.ogg")
    dec.add_argument("--codebooks", "-k", type=int_range(1, 32), default=None,
                     help="use only the first k codebooks (1 to the number in the file)")
    st = cmds.add_parser("stats", help="print the per-codebook table of an audio file")
    st.add_argument("input", type=Path)
    st.add_argument("--bandwidth", "-b", type=_bandwidth, default=6.0, help="kbps: 1.5, 3, 6, 12 or 24")
    for sp in (enc, dec, st):
        sp.add_argument("--model", default=None,
                        help="24khz (default), 48khz, a Hub repo id, a release .th file or a Hugging Face folder")


def _model(name: str | None, progress: Callable[[float, str], None]) -> object:
    from studio.hub.encodec_weights import load_encodec

    return load_encodec(name or "24khz",
                        progress=lambda p: progress(p.done / max(1, p.total), f"downloading {p.filename}"))


def run(args: argparse.Namespace, progress: Callable[[float, str], None]) -> int:
    from studio.outputs import check_output

    if not args.input.exists():
        raise StudioError(f"File not found: {args.input}.", "Check the path.")
    if args.codec_command == "decode":
        check_output(args.output, [args.input], AUDIO_SUFFIXES)
        return _decode(args, progress)
    if args.codec_command == "encode":
        check_output(args.output, [args.input], CODE_SUFFIXES)
    from studio.audio.io import probe

    probe(args.input)  # a clear message for a file that is not audio, before the codec loads
    model = _model(args.model, progress)
    if args.bandwidth not in model.cfg.bandwidths:  # type: ignore[attr-defined]
        raise StudioError(f"The model does not offer {args.bandwidth:g} kbps.",
                          f"Use one of {', '.join(f'{b:g}' for b in model.cfg.bandwidths)}.")  # type: ignore
    if args.codec_command == "encode":
        if args.output.suffix.lower() == ".npz" and model.cfg.segment is not None:  # type: ignore[attr-defined]
            raise StudioError("A VALL-E-X .npz holds EnCodec 24 kHz codes; this is the 48 kHz codec.",
                              "Write an .ecdc file, or encode with the 24 kHz codec.")
        return _encode(args, model, progress)
    return _stats(args, model, progress)


def _encode(args: argparse.Namespace, model: object, progress: Callable[[float, str], None]) -> int:
    import numpy as np
    import torch

    from studio.engine.codec import analysis, files

    expected, blocks = analysis.read_model_input(model, args.input)  # type: ignore[arg-type]
    codes, scales, length = [], [], 0
    for piece in analysis.encode_blocks(model, blocks, args.bandwidth, expected, progress):  # type: ignore[arg-type]
        codes.append(piece.codes.to(torch.int16))  # 10-bit codes: a quarter of the memory while the file is read
        if piece.scale is not None:
            scales.append(piece.scale)
        length = piece.start + piece.audio.shape[-1]
    all_codes = torch.cat(codes, dim=-1).numpy().astype(np.int64)
    del codes
    chunked = model.cfg.segment is not None  # type: ignore[attr-defined]
    progress(0.995, f"Writing {args.output.name}…")
    files.write_codes(args.output, files.CodeFile(all_codes, analysis.model_name(model),  # type: ignore[arg-type]
                                                  length, scales if chunked else None))
    progress(1.0, "Done")
    print(f"Wrote {args.output}: {all_codes.shape[0]} codebooks x {all_codes.shape[1]} frames "
          f"({args.output.stat().st_size} bytes)")
    return 0


def _decode(args: argparse.Namespace, progress: Callable[[float, str], None]) -> int:
    from studio.engine.codec import analysis, files

    f = files.read_codes(args.input)
    model = _model(args.model or f.model.removeprefix("encodec_"), progress)
    rate = files.MODEL_RATES[f.model][0]
    if model.cfg.sample_rate != rate:  # type: ignore[attr-defined]
        raise StudioError(f"'{args.input.name}' holds {f.model} codes; the chosen codec runs at "
                          f"{model.cfg.sample_rate // 1000} kHz.",  # type: ignore[attr-defined]
                          f"Leave out --model, or pick the {rate // 1000} kHz EnCodec model.")
    k = args.codebooks
    if k is not None and k > f.codes.shape[0]:
        raise StudioError(f"--codebooks {k}: '{args.input.name}' holds {f.codes.shape[0]} codebooks.",
                          f"Use --codebooks 1 to {f.codes.shape[0]}.")
    n = analysis.decode_to_file(model, f.codes, f.scales, f.audio_length, args.output, k,  # type: ignore[arg-type]
                                progress=progress)
    progress(1.0, "Done")
    print(f"Wrote {args.output} ({n / rate:.2f} s, {k or f.codes.shape[0]} codebooks)")
    return 0


def _stats(args: argparse.Namespace, model: object, progress: Callable[[float, str], None]) -> int:
    from studio.engine.codec import analysis

    result = analysis.analyze(model, args.input, args.bandwidth, progress=progress)  # type: ignore[arg-type]
    print(f"{result.model}, {result.bandwidth:g} kbps nominal ({result.codes.shape[0]} codebooks x "
          f"{result.codes.shape[1]} frames at {result.frame_rate} frames/s), {result.duration:.2f} s")
    print(f"{'k':>3} {'used':>6} {'entropy':>9} {'kbps':>6} {'SI-SNR dB':>10} {'mel dist':>9} {'residual':>9}")
    for cb, st in zip(result.codebooks, result.stages, strict=True):
        print(f"{cb.index + 1:>3} {cb.used_codes:>6} {cb.entropy_bits:>8.2f}b {cb.kbps:>6.2f} "
              f"{st.si_snr_db:>10.2f} {st.mel_distance:>9.3f} {st.residual_energy:>9.4f}")
    total = sum(cb.kbps for cb in result.codebooks)
    print(f"entropy-coded rate {total:.2f} kbps of {result.nominal_kbps:g} kbps", file=sys.stdout)
    return 0
