"""`studio` command: no arguments opens the window; subcommands work headless for scripts and batch work."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from studio import __version__
from studio.cli import caption, clone, codec, transcribe, units
from studio.cli.types import int_range, positive_float
from studio.engine.render import COLORMAPS
from studio.errors import StudioError

MAX_WIDTH = 100_000  # columns of a spectrogram image: 240 rows x 100000 x RGB is 72 MB, more helps nobody


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio", description="Voice Studio: record, transcribe, clone, caption, "
                                "and look inside the models. Run without a command to open the window.")
    p.add_argument("--version", action="version", version=f"Voice Studio {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("gui", help="open the window (the default)")
    sub.add_parser("devices", help="list input devices, monitors of outputs included")
    rec = sub.add_parser("record", help="record from an input device to a WAV file")
    rec.add_argument("output", type=Path)
    rec.add_argument("--seconds", type=positive_float, default=None,
                     help="stop after this much audio (default: Ctrl+C)")
    rec.add_argument("--device", default=None, help="device key or label from `studio devices` (default: system)")
    rec.add_argument("--samplerate", type=int_range(1000, 384000), default=None,
                     help="Hz, 1000…384000 (default: the device's own rate)")
    mel = sub.add_parser("mel", help="render a spectrogram of an audio file to PNG")
    mel.add_argument("input", type=Path)
    mel.add_argument("--png", type=Path, required=True, help="output image (.png; never the input file)")
    mel.add_argument("--kind", choices=["mel80", "mel128", "linear"], default="mel80")
    mel.add_argument("--width", type=int_range(1, MAX_WIDTH), default=1600,
                     help=f"at most this many columns (1…{MAX_WIDTH})")
    mel.add_argument("--colormap", choices=COLORMAPS, default="magma")
    transcribe.add_parser(sub)
    codec.add_parser(sub)
    clone.add_parser(sub)
    caption.add_parser(sub)
    units.add_parser(sub)
    return p


_bar = {"open": False}  # a progress line is on screen without its newline


def _progress_bar(fraction: float, message: str) -> None:
    _bar["open"] = fraction < 1.0
    width = 30
    filled = int(fraction * width)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}% {message[:40]:<40}")
    sys.stderr.flush()
    if fraction >= 1.0:
        sys.stderr.write("\n")


def cmd_devices() -> int:
    from studio.audio.devices import describe_missing_portaudio, list_input_devices

    devices = list_input_devices()
    if not devices:
        try:
            import sounddevice  # noqa: F401
        except OSError:
            print(describe_missing_portaudio(), file=sys.stderr)
            return 1
        print("No input devices found.")
        return 0
    print(f"{'kind':<11} {'rate':>6}  {'key':<40} label")
    for d in devices:
        print(f"{d.kind:<11} {d.default_samplerate:>6}  {d.key:<40} {d.label}")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from studio.audio.devices import list_input_devices
    from studio.audio.recorder import Recorder, overflow_text

    device = None
    if args.device:
        devices = list_input_devices()
        device = next((d for d in devices if args.device in (d.key, d.label)), None)
        if device is None:
            raise StudioError(f"No input device '{args.device}'.", "Run `studio devices` to list them.")
    from studio.outputs import check_output

    check_output(args.output, suffixes=[".wav"])
    if args.output.exists() or args.output.is_symlink():  # the recorder writes in place, as it records
        raise StudioError(f"'{args.output}' already exists.", "Choose a new file name: a recording never "
                          "replaces a file.")
    rec = Recorder(args.output, device, args.samplerate)
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    rec.start()
    print(f"Recording to {args.output} at {rec.samplerate} Hz (Ctrl+C stops)", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    # --seconds counts recorded audio, not wall time: some audio servers take a moment to deliver the first block
    while not stop and (args.seconds is None or rec.duration < args.seconds) and rec.error is None:
        time.sleep(0.02)
        if rec.frames_written == 0 and time.monotonic() - t0 > 10:
            rec.stop()
            raise StudioError("No audio arrived from the input device in 10 seconds.",
                              "Check that the device is connected and not muted, or pick another with --device.")
        dropped = f"  {overflow_text(rec.overflows)}" if rec.overflows else ""
        sys.stderr.write(f"\r{rec.duration:8.2f} s  level {rec.level:4.2f}{dropped}   ")
        sys.stderr.flush()
    rec.stop()
    sys.stderr.write("\n")
    if rec.overflows:
        print(f"warning: {overflow_text(rec.overflows)} (the computer did not read the input in time; "
              "close busy programs or record at a lower --samplerate)", file=sys.stderr)
    if rec.error:
        raise StudioError(rec.error, "The audio recorded before the problem is kept in the file.")
    print(f"Saved {args.output} ({rec.duration:.1f} s)")
    return 0


def cmd_mel(args: argparse.Namespace) -> int:
    from studio.engine.render import colorize, write_png
    from studio.engine.spectrogram import compute_spectrogram
    from studio.outputs import check_output

    check_output(args.png, [args.input], [".png"])  # before reading an hour of audio
    spec = compute_spectrogram(str(args.input), args.kind, max_columns=args.width, progress=_progress_bar)
    rgb = colorize(spec.image, spec.vmin, spec.vmax, args.colormap)
    if spec.kind == "linear" and rgb.shape[0] > 512:  # keep the image a sensible height
        rgb = rgb[:: -(-rgb.shape[0] // 512)]
    elif rgb.shape[0] < 240:  # stretch mel rows so the image is readable
        rgb = rgb.repeat(-(-240 // rgb.shape[0]), axis=0)
    write_png(args.png, rgb)
    print(f"Wrote {args.png} ({rgb.shape[1]}x{rgb.shape[0]}, {spec.t1 - spec.t0:.1f} s, {spec.kind})")
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run() -> None:
    """The `studio` command: `main`, then exit without the interpreter's teardown. Everything the command writes is
    closed by then; unloading torch's ~1,200 modules took 0.5 s of a 2.4 s `studio transcribe jfk.flac`."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: started with that descriptor closed (`studio ... >&-`)
                stream.flush()
        except (OSError, ValueError):  # a closed pipe (`studio ... | head`): nothing more can be said
            pass
    logging.shutdown()
    os._exit(int(code or 0))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    previous = None
    if args.command not in (None, "gui") and threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill`, `timeout`, a logout: as Ctrl+C
    try:
        return _dispatch(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        if args.command in (None, "gui"):
            from studio.ui.app import main as gui_main

            return gui_main()
        if args.command == "devices":
            return cmd_devices()
        if args.command == "record":
            return cmd_record(args)
        if args.command == "mel":
            return cmd_mel(args)
        if args.command == "transcribe":
            return transcribe.run(args, _progress_bar)
        if args.command == "codec":
            return codec.run(args, _progress_bar)
        if args.command == "clone":
            return clone.run(args, _progress_bar)
        if args.command == "caption":
            return caption.run(args, _progress_bar)
        if args.command == "units":
            return units.run(args, _progress_bar)
    except StudioError as e:
        if _bar["open"]:  # the message starts on its own line, not after the bar
            sys.stderr.write("\n")
            _bar["open"] = False
        print(f"error: {e.message}", file=sys.stderr)
        if e.remedy:
            print(f"  {e.remedy}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
