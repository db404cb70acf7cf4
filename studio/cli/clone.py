"""`studio clone`: speak text in an enrolled voice (a VALL-E X preset .npz) or in the voice of a short recording,
enrolled on the fly. The Voice panel's engine from the command line."""

from __future__ import annotations

import argparse
import re
import signal
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
    p.add_argument("--prompt-language", choices=("en", "zh", "ja"), default=None,
                   help="language of a prompt recording (default: --language); a voice file carries its own")
    p.add_argument("--seed", type=int_range(0, 2**31 - 1), default=1, help="sampling seed (default 1)")
    p.add_argument("--temperature", type=float_range(0.01, 5.0), default=1.0,
                   help="sampling temperature, 0.01 to 5 (default 1.0)")
    p.add_argument("--top-k", type=int_range(0, 1024), default=0,
                   help="sample among the k most likely tokens, 1-1024; 0 = all (default)")
    p.add_argument("--model", default="vallex", help="vallex (downloaded once) or a vallex-checkpoint.pt path")
    p.add_argument("--codec", default="24khz",
                   help="24khz (downloaded once), or an EnCodec 24 kHz release .th file or Hugging Face folder")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--precision", choices=("auto", "float32", "fast"), default="auto",
                   help="fast: on a CPU int8 AR, and bfloat16 NAR where the CPU runs it faster; float32: exact; auto "
                   "(default): fast on a CPU, float32 on a GPU (where bfloat16 measured no faster)")
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
    if args.voice.suffix.lower() == ".npz" and (args.prompt_text is not None or args.prompt_language):
        raise StudioError("--prompt-text and --prompt-language are for a recording; a voice file carries its own.",
                          "Drop them, or pass the recording instead of the .npz.")
    if args.prompt_text is not None:
        from studio.engine.clone.voices import MAX_PROMPT_TEXT

        if not args.prompt_text.strip():
            raise StudioError("--prompt-text is empty.", "Give what the recording says, or leave the option out "
                              "to have it transcribed.")
        if len(args.prompt_text) > MAX_PROMPT_TEXT:
            raise StudioError(f"--prompt-text has {len(args.prompt_text)} characters; a 2-15 s prompt says far "
                              f"fewer (at most {MAX_PROMPT_TEXT}).", "Give only what the recording says.")
    check_output(args.output, [args.voice], [".wav"])
    return _synthesize(args, text, progress)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    """Text for the terminal: control characters (escape sequences that recolour it) and bidi controls shown as
    '·'."""
    return _CONTROL.sub("·", text)


def _clear_bar() -> None:
    sys.stderr.write("\r" + " " * 100 + "\r")


def _synthesize(args: argparse.Namespace, text: str, progress: Callable[[float, str], None]) -> int:
    from studio.engine.clone.plan import plan_sentences
    from studio.engine.clone.result import Settings
    from studio.engine.clone.synthesis_jobs import load_or_enroll, synthesize_job
    from studio.errors import JobCancelled
    from studio.hub.download import WeightsMissingError
    from studio.worker.jobs import JobContext
    from studio.worker.registry import ModelRegistry
    from studio.worker.thread import resolve_device

    plan_sentences(text, args.language, 0.0)  # a text with nothing to say fails before any model loads
    ctx = JobContext(0, resolve_device(args.device), ModelRegistry(), lambda _id, f, m: progress(f, m))
    prompt_language = args.prompt_language or args.language
    try:
        voice, warnings = load_or_enroll(ctx, str(args.voice), prompt_language, args.prompt_text, codec=args.codec)
    except (JobCancelled, KeyboardInterrupt):
        _clear_bar()
        print("stopped: nothing was written", file=sys.stderr)
        return 130
    except WeightsMissingError as e:
        raise _with_cli_remedy(e, args) from e
    _clear_bar()
    for w in warnings:
        print(f"note: {w}", file=sys.stderr)
    sentences = plan_sentences(text, args.language, voice.duration)
    settings = Settings(temperature=args.temperature, top_k=args.top_k or -100, seed=args.seed)
    done: list[object] = []
    notes: set[str] = set()

    def on_take(take: object) -> None:
        done.append(take)
        t = take  # a Take
        rt = t.round_trip  # type: ignore[attr-defined]
        flags = ""
        if rt is not None and rt.problems:
            flags = "  check: " + ", ".join(f"{m.kind} '{_printable(m.word)}'" for m in rt.problems[:6])
        _clear_bar()
        print(f"[{t.index + 1}/{len(sentences)}] {t.duration:5.1f} s  {_printable(t.text[:60])}{flags}",  # type: ignore
              file=sys.stderr)
        for d in t.dropped:  # type: ignore[attr-defined]
            print(f"  note: dropped '{_printable(d)}' (not speakable)", file=sys.stderr)
        skipped = t.check_skipped  # type: ignore[attr-defined]
        if skipped and skipped not in notes:
            notes.add(skipped)
            print(f"  note: {skipped}", file=sys.stderr)

    failure: StudioError | None = None
    try:
        result = synthesize_job(ctx, voice, sentences, args.language, settings, model=args.model,
                                precision=args.precision, check_words=not args.no_check, on_take=on_take,
                                codec=args.codec)
    except (JobCancelled, KeyboardInterrupt):
        result = None
    except WeightsMissingError as e:
        raise _with_cli_remedy(e, args) from e
    except StudioError as e:  # e.g. a sentence the model would not say with three seeds: keep what is done
        if not done:
            raise
        failure, result = e, None
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C must not cut the writing of what is done
    _clear_bar()
    if result is None and not done:
        print("stopped: nothing was written", file=sys.stderr)
        return 130
    return _write(args, voice, result, done, len(sentences), failure)


def _with_cli_remedy(e: StudioError, args: argparse.Namespace) -> StudioError:
    """The hub's remedy speaks of the window; on the command line a local file is passed with an option."""
    return type(e)(e.message, f"{e.remedy} On the command line: --model PATH (vallex-checkpoint.pt) and "
                   "--codec PATH (an EnCodec 24 kHz .th file or Hugging Face folder).")


def _write(args: argparse.Namespace, voice: object, result: object, done: list[object], planned: int,
           failure: StudioError | None) -> int:
    import io

    import soundfile as sf

    from studio.engine.clone.result import SAMPLE_RATE, Synthesis
    from studio.outputs import write_bytes

    synthesis = result or Synthesis(voice.name, args.language, voice.audio_tokens.T, done)  # type: ignore
    audio = synthesis.joined()  # type: ignore[attr-defined]
    buf = io.BytesIO()  # encoded in memory: a full disk is then an OSError of the write, which says so
    sf.write(buf, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    write_bytes(args.output, buf.getvalue())
    partial = result is None
    print(f"Wrote {args.output}: {len(audio) / SAMPLE_RATE:.1f} s, {len(synthesis.takes)} of {planned} "  # type: ignore
          f"sentences{' (stopped early)' if partial else ''}")
    if failure is not None:
        print(f"error: {failure.message}", file=sys.stderr)
        if failure.remedy:
            print(f"  {failure.remedy}", file=sys.stderr)
        return 2
    return 130 if partial else 0
