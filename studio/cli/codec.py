"""`studio codec encode|decode|stats`: the Codec panel's engine from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from studio.errors import StudioError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("codec", help="EnCodec: audio <-> codes (.ecdc / .npz), per-codebook statistics")
    cmds = p.add_subparsers(dest="codec_command", metavar="ACTION", required=True)
    enc = cmds.add_parser("encode", help="audio -> codes")
    enc.add_argument("input", type=Path)
    enc.add_argument("output", type=Path, help="out.ecdc (EnCodec's compressed format) or out.npz (VALL-E-X)")
    enc.add_argument("--bandwidth", "-b", type=float, default=6.0, help="kbps: 1.5, 3, 6, 12 or 24")
    dec = cmds.add_parser("decode", help="codes -> audio")
    dec.add_argument("input", type=Path)
    dec.add_argument("output", type=Path)
    dec.add_argument("--codebooks", "-k", type=int, default=None, help="use only the first k codebooks")
    st = cmds.add_parser("stats", help="print the per-codebook table of an audio file")
    st.add_argument("input", type=Path)
    st.add_argument("--bandwidth", "-b", type=float, default=6.0)
    for sp in (enc, dec, st):
        sp.add_argument("--model", default=None,
                        help="24khz (default), 48khz, a Hub repo id, a release .th file or a Hugging Face folder")


def _model(name: str | None, progress: Callable[[float, str], None]) -> object:
    from studio.hub.encodec_weights import load_encodec

    return load_encodec(name or "24khz",
                        progress=lambda p: progress(p.done / max(1, p.total), f"downloading {p.filename}"))


def run(args: argparse.Namespace, progress: Callable[[float, str], None]) -> int:
    from studio.engine.codec import analysis, files

    if not args.input.exists():
        raise StudioError(f"File not found: {args.input}.", "Check the path.")
    if args.codec_command == "decode":
        f = files.read_codes(args.input)
        model = _model(args.model or f.model.removeprefix("encodec_"), progress)
        k = args.codebooks
        if k is not None and not 1 <= k <= f.codes.shape[0]:
            raise StudioError(f"--codebooks must be 1…{f.codes.shape[0]}.", "The file holds that many codebooks.")
        import soundfile as sf

        audio = analysis.decode_codes(model, f.codes, f.scales, f.audio_length, k)  # type: ignore[arg-type]
        sf.write(args.output, audio.T, model.cfg.sample_rate, subtype="PCM_16")  # type: ignore[attr-defined]
        print(f"Wrote {args.output} ({audio.shape[-1] / model.cfg.sample_rate:.2f} s, "  # type: ignore[attr-defined]
              f"{k or f.codes.shape[0]} codebooks)")
        return 0
    model = _model(args.model, progress)
    if args.bandwidth not in model.cfg.bandwidths:  # type: ignore[attr-defined]
        raise StudioError(f"The model does not offer {args.bandwidth} kbps.",
                          f"Use one of {', '.join(f'{b:g}' for b in model.cfg.bandwidths)}.")  # type: ignore
    if args.codec_command == "encode":
        from studio.audio.io import load_audio

        if args.output.suffix.lower() not in (".ecdc", ".npz"):
            raise StudioError(f"Cannot write '{args.output.name}'.", "Use an .ecdc or .npz file name.")
        rate = model.cfg.sample_rate  # type: ignore[attr-defined]
        wav = load_audio(args.input, rate)
        codes, scales = analysis.encode_audio(model, wav, args.bandwidth)  # type: ignore[arg-type]
        files.write_codes(args.output, files.CodeFile(codes, analysis.model_name(model), len(wav), scales))  # type: ignore
        print(f"Wrote {args.output}: {codes.shape[0]} codebooks x {codes.shape[1]} frames "
              f"({args.output.stat().st_size} bytes)")
        return 0
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
