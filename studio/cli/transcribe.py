"""`studio transcribe FILE...`: the Transcribe panel's engine from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from studio.errors import StudioError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files with Whisper (tiny.en is built in)")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--model", default="tiny.en", help="size name (tiny.en built in; others download once), "
                   "Hugging Face repo id, or a local .pt file / model folder")
    p.add_argument("--language", default=None, help="language code or name (default: detect; English for .en)")
    p.add_argument("--task", choices=["transcribe", "translate"], default="transcribe")
    p.add_argument("--beam-size", type=int, default=5, help="1 = greedy")
    p.add_argument("--best-of", type=int, default=5, help="samples per temperature during fallback")
    p.add_argument("--patience", type=float, default=None)
    p.add_argument("--temperature-increment", type=float, default=0.2,
                   help="fallback step; 0 disables the fallback")
    p.add_argument("--no-condition", action="store_true", help="do not condition on the previous window's text")
    p.add_argument("--initial-prompt", default=None)
    p.add_argument("--word-timestamps", action="store_true")
    p.add_argument("--vad", action="store_true", help="skip silence with Silero VAD before decoding")
    p.add_argument("--output-format", "-f", default="txt",
                   help="txt, srt, vtt, json, or all (comma-separated list allowed)")
    p.add_argument("--output-dir", "-o", type=Path, default=Path("."))
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    p.add_argument("--int8", action="store_true", help="int8 linear layers on CPU: faster, very slightly different")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no segments on stdout")


def _formats(spec: str) -> list[str]:
    from studio.engine.asr.export import FORMATS

    names = list(FORMATS) if spec == "all" else [s.strip().lower() for s in spec.split(",") if s.strip()]
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise StudioError(f"Unknown output format '{', '.join(bad) or spec}'.", f"Use {', '.join(FORMATS)} or all.")
    return names


def run(args: argparse.Namespace, progress_bar: Callable[[float, str], None]) -> int:
    formats = _formats(args.output_format)
    missing = [f for f in args.files if not f.exists()]
    if missing:
        raise StudioError(f"File not found: {missing[0]}.", "Check the path.")
    args.output_dir.mkdir(parents=True, exist_ok=True)

    import torch

    from studio.engine.asr.export import write
    from studio.engine.asr.options import TranscribeOptions
    from studio.engine.asr.transcribe import Transcriber
    from studio.hub.whisper_weights import load_whisper
    from studio.worker.thread import resolve_device

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    def download(p: object) -> None:
        if not args.quiet:
            progress_bar(p.done / max(1, p.total), f"downloading {p.filename}")  # type: ignore[attr-defined]

    transcriber = Transcriber(load_whisper(args.model, progress=download), device=device, int8=args.int8)
    step = args.temperature_increment
    temps = tuple(round(i * step, 2) for i in range(int(1 / step) + 1)) if step > 0 else (0.0,)
    options = TranscribeOptions(language=args.language, task=args.task, beam_size=args.beam_size,
                                best_of=args.best_of, patience=args.patience, temperatures=temps,
                                condition_on_previous_text=not args.no_condition,
                                initial_prompt=args.initial_prompt, word_timestamps=args.word_timestamps,
                                vad_filter=args.vad)
    failures = 0
    for path in args.files:
        if not args.quiet and len(args.files) > 1:
            print(f"== {path}", file=sys.stderr)
        try:
            result = transcriber.transcribe(path, options, progress=None if args.quiet else progress_bar)
        except StudioError as e:  # one bad file does not stop the batch
            print(f"\nerror: {path}: {e.message}\n  {e.remedy}", file=sys.stderr)
            failures += 1
            continue
        if not args.quiet:
            for s in result.segments:
                print(f"[{s.start:7.2f} --> {s.end:7.2f}] {s.text.strip()}")
        for fmt in formats:
            out = write(result, fmt, args.output_dir / f"{path.stem}.{fmt}")
            if not args.quiet:
                print(f"Wrote {out}", file=sys.stderr)
    return 2 if failures else 0
