"""`studio clone`: speak text in an enrolled voice (a VALL-E X preset .npz) or in the voice of a short recording,
enrolled on the fly. The Voice panel's engine from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from studio.cli.types import float_range, int_range
from studio.errors import StudioError

MAX_TEXT = 20_000  # characters: about 25 minutes of speech, synthesized sentence by sentence
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clone", help="speak text in a cloned voice (VALL-E X)",
                       description="Speak TEXT in the voice of VOICE: a voice file (.npz, VALL-E X preset layout) "
                       "or a 2-15 s recording, enrolled on the fly. Long text is spoken sentence by sentence.")
    p.add_argument("output", type=Path, help="out.wav (24 kHz; never an input file)")
    p.add_argument("--voice", type=Path, required=True, help="VOICE.npz or PROMPT.wav/.flac/.ogg")
    p.add_argument("--text", required=True, help="what to say")
    p.add_argument("--prompt-text", default=None,
                   help="what the prompt recording says (default: transcribed); only for a recording")
    p.add_argument("--language", choices=("en", "zh", "ja"), default="en", help="language of TEXT (default en)")
    p.add_argument("--seed", type=int_range(0, 2**31 - 1), default=1, help="sampling seed (default 1)")
    p.add_argument("--temperature", type=float_range(0.0, 5.0, lo_open=True), default=1.0,
                   help="sampling temperature, >0 to 5 (default 1.0)")
    p.add_argument("--top-k", type=int_range(0, 1024), default=0,
                   help="sample among the k most likely tokens, 1-1024; 0 = all (default)")
    p.add_argument("--model", default="vallex", help="vallex (downloaded once) or a vallex-checkpoint.pt path")
    p.add_argument("--codec", default="24khz",
                   help="24khz (downloaded once), or an EnCodec 24 kHz release .th file or Hugging Face folder")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--precision", choices=("auto", "float32", "fast"), default="auto",
                   help="fast: int8 AR + bfloat16 NAR on a CPU (about 4x quicker); float32: exact; auto (default): "
                   "fast on a CPU, float32 on a GPU (where bfloat16 measured no faster)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the round-trip check (transcribing each sentence back)")


def run(args: argparse.Namespace, progress: Callable[[float, str], None]) -> int:
    from studio.outputs import check_output

    text = args.text.strip()
    if not text:
        raise StudioError("--text is empty.", "Give the words to speak, e.g. --text \"Hello there.\"")
    if len(text) > MAX_TEXT:
        raise StudioError(f"--text has {len(text)} characters; at most {MAX_TEXT} are spoken in one run.",
                          "Split the text over several runs.")
    if not args.voice.exists():
        raise StudioError(f"Voice file not found: {args.voice}.", "Give a voice .npz or a short recording.")
    if args.voice.suffix.lower() == ".npz" and args.prompt_text is not None:
        raise StudioError("--prompt-text is for a recording; a voice file carries its own prompt text.",
                          "Drop --prompt-text, or pass the recording instead of the .npz.")
    check_output(args.output, [args.voice], [".wav"])
    return _synthesize(args, text, progress)


def _synthesize(args: argparse.Namespace, text: str, progress: Callable[[float, str], None]) -> int:
    from studio.engine.clone.plan import plan_sentences
    from studio.engine.clone.result import Settings
    from studio.engine.clone.synthesis_jobs import load_or_enroll, synthesize_job
    from studio.errors import JobCancelled
    from studio.worker.jobs import JobContext
    from studio.worker.registry import ModelRegistry
    from studio.worker.thread import resolve_device

    ctx = JobContext(0, resolve_device(args.device), ModelRegistry(), lambda _id, f, m: progress(f, m))
    voice, warnings = load_or_enroll(ctx, str(args.voice), args.language, args.prompt_text, codec=args.codec)
    for w in warnings:
        print(f"note: {w}", file=sys.stderr)
    sentences = plan_sentences(text, args.language, voice.duration)
    settings = Settings(temperature=args.temperature, top_k=args.top_k or -100, seed=args.seed)
    done: list[object] = []

    def on_take(take: object) -> None:
        done.append(take)
        t = take  # a Take
        rt = t.round_trip  # type: ignore[attr-defined]
        flags = ""
        if rt is not None and rt.problems:
            flags = "  check: " + ", ".join(f"{m.kind} '{m.word}'" for m in rt.problems[:6])
        sys.stderr.write("\r" + " " * 90 + "\r")
        print(f"[{t.index + 1}/{len(sentences)}] {t.duration:5.1f} s  {t.text[:60]}{flags}",  # type: ignore
              file=sys.stderr)
        for d in t.dropped:  # type: ignore[attr-defined]
            print(f"  note: dropped '{d}' (not speakable)", file=sys.stderr)

    try:
        result = synthesize_job(ctx, voice, sentences, args.language, settings, model=args.model,
                                precision=args.precision, check_words=not args.no_check, on_take=on_take,
                                codec=args.codec)
    except (JobCancelled, KeyboardInterrupt):
        if not done:
            print("\nstopped: nothing was written", file=sys.stderr)
            return 130
        result = None
    from studio.engine.clone.result import SAMPLE_RATE, Synthesis
    from studio.outputs import atomic_output

    synthesis = result or Synthesis(voice.name, args.language, voice.audio_tokens.T, done)  # type: ignore[arg-type]
    audio = synthesis.joined()
    import soundfile as sf

    with atomic_output(args.output) as tmp:
        sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    partial = result is None
    print(f"Wrote {args.output}: {len(audio) / SAMPLE_RATE:.1f} s, {len(synthesis.takes)} of {len(sentences)} "
          f"sentences{' (stopped early)' if partial else ''}")
    return 130 if partial else 0
