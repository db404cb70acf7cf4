"""`studio transcribe FILE...`: the Transcribe panel's engine from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from studio.cli.types import MAX_THREADS, float_range, int_range
from studio.errors import JobCancelled, StudioError

OUTPUT_NAMES = ("Each input's transcript is named after the input without its extension (talk.wav -> talk.txt); "
                "when inputs share that name (talk.wav talk.flac) the later ones on the command line get "
                "'talk (2).txt', 'talk (3).txt'… Files left by an earlier run are replaced; an input never is.")


def language(text: str) -> str:
    """argparse type: a language code or English name Whisper knows, or 'auto'."""
    from studio.engine.asr.tokenizer import LANGUAGE_BY_NAME, LANGUAGES

    lang = text.strip().lower()
    if lang in ("", "auto") or lang in LANGUAGES:
        return lang
    if lang in LANGUAGE_BY_NAME:
        return LANGUAGE_BY_NAME[lang]
    raise argparse.ArgumentTypeError(f"unknown language '{text}': use a code such as en, de, ja, a name such "
                                     "as German, or auto")


def temperature_step(text: str) -> float:
    """argparse type: 0 (no fallback) or 0.01…1; finer steps would mean hundreds of retries per window."""
    value = float_range(0.0, 1.0)(text)
    if 0 < value < 0.01:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range: use 0 (no fallback) or a number from 0.01 "
                                         "to 1")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files with Whisper (tiny.en is built in)",
                       description="Transcribe audio files; segments are printed as they are decoded. Ctrl+C "
                       "stops and keeps what is done: the output files hold the segments so far, marked as "
                       "partial, and the exit status is 130. " + OUTPUT_NAMES)
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--model", default="tiny.en", type=_model_name,
                   help="tiny.en (built in), base, base.en, small, small.en, medium, large-v3, turbo, a Hugging "
                   "Face repo id (owner/name), or a local model: an openai-whisper .pt, a Hugging Face folder or a "
                   "faster-whisper folder. A local path must look like one (contain /, start with . or ~, or end "
                   "in .pt/.bin/.safetensors): --model base is always the official base model; write ./base for "
                   "a folder named base")
    p.add_argument("--language", type=language, default=None,
                   help="language code or name (default: detect; English for .en)")
    p.add_argument("--task", choices=["transcribe", "translate"], default="transcribe")
    p.add_argument("--beam-size", type=int_range(1, 100), default=5, help="1 = greedy (1…100)")
    p.add_argument("--best-of", type=int_range(1, 100), default=5,
                   help="samples per temperature during fallback (1…100)")
    p.add_argument("--patience", type=float_range(0.0, 10.0, lo_open=True), default=None,
                   help="beam search keeps going until beam size x patience hypotheses end (> 0, at most 10)")
    p.add_argument("--temperature-increment", type=temperature_step, default=0.2,
                   help="fallback step, 0.01…1; 0 disables the fallback")
    p.add_argument("--no-condition", action="store_true", help="do not condition on the previous window's text")
    p.add_argument("--initial-prompt", default=None)
    p.add_argument("--word-timestamps", action="store_true")
    p.add_argument("--vad", action="store_true", help="skip silence with Silero VAD before decoding")
    p.add_argument("--output-format", "-f", default="txt",
                   help="txt, srt, vtt, json, or all (comma-separated list allowed)")
    p.add_argument("--output-dir", "-o", type=Path, default=Path("."),
                   help="folder for the transcripts (created if missing). " + OUTPUT_NAMES)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int_range(0, MAX_THREADS), default=0,
                   help=f"CPU threads (0: all cores; at most {MAX_THREADS})")
    p.add_argument("--int8", action="store_true", help="int8 linear layers on CPU: faster, very slightly different")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no segments on stdout")


def _formats(spec: str) -> list[str]:
    from studio.engine.asr.export import FORMATS

    names = list(FORMATS) if spec == "all" else [s.strip().lower() for s in spec.split(",") if s.strip()]
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise StudioError(f"Unknown output format '{', '.join(bad) or spec}'.", f"Use {', '.join(FORMATS)} or all.")
    return list(dict.fromkeys(names))  # "txt,txt" writes one file


def output_bases(files: Sequence[Path]) -> list[str]:
    """The name (without format suffix) of each input's transcripts, distinct within the batch: the input's name
    without its extension, and for the later inputs that share it ' (2)', ' (3)'… in command-line order.
    Compared case-insensitively, as macOS and Windows folders do."""
    natural = {f.stem.casefold() for f in files}
    taken: set[str] = set()
    bases = []
    for f in files:
        base, n = f.stem, 1
        while base.casefold() in taken or (n > 1 and base.casefold() in natural):
            n += 1
            base = f"{f.stem} ({n})"
        taken.add(base.casefold())
        bases.append(base)
    return bases


def plan_outputs(files: Sequence[Path], formats: Sequence[str], out_dir: Path) -> list[dict[str, Path]]:
    """Every output path, checked before any work: never an input, never a folder, in a writable folder."""
    from studio.outputs import check_folder, check_output

    check_folder(out_dir, create=True)
    plans = []
    for base in output_bases(files):
        try:
            plans.append({fmt: check_output(out_dir / f"{base}.{fmt}", files, [f".{fmt}"]) for fmt in formats})
        except StudioError as e:  # transcript names follow the inputs: the way out is another folder
            raise StudioError(e.message, "Choose another output folder with -o.") from e
    return plans


def _model_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("give a model name, e.g. tiny.en or base")
    return text.strip()


def run(args: argparse.Namespace, progress_bar: Callable[[float, str], None]) -> int:
    formats = _formats(args.output_format)
    if args.task == "translate" and args.model.lower().endswith(".en"):  # said before the model loads
        raise StudioError(f"The model '{args.model}' is English-only and cannot translate.",
                          "Use a multilingual model (tiny, base, small, medium, large-v3) for --task translate.")
    missing = [f for f in args.files if not f.exists()]
    if missing:
        raise StudioError(f"File not found: {missing[0]}.", "Check the path.")
    if args.patience is not None and round(args.beam_size * args.patience) < 1:
        raise StudioError(f"--patience {args.patience:g} with --beam-size {args.beam_size} waits for no "
                          "hypothesis at all.", f"Use --patience {1 / args.beam_size:g} or more.")
    plans = plan_outputs(args.files, formats, args.output_dir)

    import torch

    from studio.engine.asr.export import partial_note, write
    from studio.engine.asr.options import TranscribeOptions
    from studio.engine.asr.result import Segment
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
    transcriber.resolve_language(args.language)  # a language the model lacks fails here, not once per file
    step = args.temperature_increment
    temps = tuple(round(i * step, 2) for i in range(int(1 / step) + 1)) if step > 0 else (0.0,)
    options = TranscribeOptions(language=args.language, task=args.task, beam_size=args.beam_size,
                                best_of=args.best_of, patience=args.patience, temperatures=temps,
                                condition_on_previous_text=not args.no_condition,
                                initial_prompt=args.initial_prompt, word_timestamps=args.word_timestamps,
                                vad_filter=args.vad)

    def print_segment(s: Segment) -> None:  # as each window is decoded, so a long file shows its text early
        if sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 80 + "\r")  # clear the progress line first
        print(f"[{s.start:7.2f} --> {s.end:7.2f}] {s.text.strip()}", flush=True)

    failures = 0
    for path, outputs in zip(args.files, plans, strict=True):
        if not args.quiet and len(args.files) > 1:
            print(f"== {path}", file=sys.stderr)
        try:
            result = transcriber.transcribe(path, options, progress=None if args.quiet else progress_bar,
                                            on_segment=None if args.quiet else print_segment)
        except JobCancelled as stop:  # Ctrl+C: keep what is done, say that it is partial
            if stop.partial is not None and stop.partial.segments:  # type: ignore[attr-defined]
                for fmt, out in outputs.items():
                    write(stop.partial, fmt, out, partial=True)  # type: ignore[arg-type]
                n = len(stop.partial.segments)  # type: ignore[attr-defined]
                print(f"\nInterrupted: wrote a {partial_note(stop.partial)} ({n} segments) to "  # type: ignore
                      f"{', '.join(str(o) for o in outputs.values())}.", file=sys.stderr)
            else:
                print("\nInterrupted before anything was transcribed; nothing written.", file=sys.stderr)
            return 130
        except StudioError as e:  # one bad file does not stop the batch
            print(f"\nerror: {path}: {e.message}\n  {e.remedy}", file=sys.stderr)
            failures += 1
            continue
        if not result.segments:  # an empty file is right for silence or noise, but say so: it looks like a failure
            print(f"note: no speech found in {path}; its transcript is empty.", file=sys.stderr)
        for fmt, out in outputs.items():
            write(result, fmt, out)
            if not args.quiet:
                print(f"Wrote {out}", file=sys.stderr)
    return 2 if failures else 0
