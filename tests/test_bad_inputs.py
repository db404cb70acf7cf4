"""The bad-input corpus (tests/badinputs.py) through every `studio` command: 0 tracebacks, 0 silent wrong
results, 0 modified inputs, 0 partial files. The summary line is printed for the run's log."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from badinputs import Case, audio_files, changed_files, code_files, digest, option_cases

from studio.cli.main import main

# speech files long enough that a correct transcript names the speaker's "fellow" (Americans)
SPEECH_WORD = "fellow"
HAS_SPEECH = {"trailing-list.wav", "8k-stereo.wav", "24bit.flac", "float64.wav", "name with spaces é.wav",
              "speech.txt", "loud-clipped.wav"}
# good files still sent through `codec encode`: odd rates and channel counts
CODEC_OK = {"8k-stereo.wav", "44101hz.wav", "11025hz-6ch.wav", "trailing-list.wav"}


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".studio-probe-")]


def _run(argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str, str]:
    """(exit status, stdout, stderr, escaped exception) of `studio argv` run in this process."""
    escaped = ""
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse refusals
        rc = e.code if isinstance(e.code, int) else 2
    except BaseException as e:  # noqa: BLE001 - exactly what the corpus hunts for
        escaped, rc = f"{type(e).__name__}: {e}", -1
    out, err = capfd.readouterr()
    return rc, out, err, escaped


@pytest.fixture(scope="module")
def encodec_th(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real 24 kHz EnCodec architecture, random weights, in the release `.th` layout."""
    from encodec import EncodecModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "encodec_24khz-random.th"
    torch.save(EncodecModel.encodec_model_24khz(pretrained=False).state_dict(), path)
    return path


class _System:
    """Pickles as a call of os.system: what a hostile "checkpoint" would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        import os

        return os.system, (f"touch '{self.marker}'",)


def _code_running_pt(folder: Path) -> Path:
    """A fairseq-shaped .pt whose settings would run a shell command (and leave ran.txt) if unpickled freely."""
    path = folder / "hubert_base_ls960.pt"
    torch.save({"args": None, "cfg": {"model": _System(folder / "ran.txt")},
                "model": {"feature_extractor.conv_layers.0.0.weight": torch.zeros(4, 1, 10)}}, path)
    return path


def _cut_pt(folder: Path) -> Path:
    """A fairseq checkpoint cut short (half the bytes), as an interrupted copy leaves it."""
    whole = folder / "whole.pt"
    torch.save({"args": None, "cfg": {"model": {"encoder_layers": 2}},
                "model": {"feature_extractor.conv_layers.0.0.weight": torch.zeros(64, 1, 10)}}, whole)
    path = folder / "wav2vec_small.pt"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    return path


def _cases(tmp: Path, data: Path, th: Path, hubert: Path) -> list[Case]:
    inputs, outs = tmp / "in", tmp / "out"
    inputs.mkdir()
    outs.mkdir()
    cases: list[Case] = []
    for name, (path, expect, message, forbidden) in audio_files(inputs, data).items():
        stem = Path(name).stem
        txt = outs / "t" / f"{stem}.txt"
        cases.append(Case(f"transcribe {name}", ["transcribe", str(path), "-o", str(outs / "t"), "-f", "txt",
                                                 "--beam-size", "1", "--quiet"], expect, [txt], message, forbidden))
        png = outs / f"{stem}.png"
        cases.append(Case(f"mel {name}", ["mel", str(path), "--png", str(png)], expect, [png], message, forbidden))
        units = outs / f"{stem}.units.txt"
        cases.append(Case(f"units {name}", ["units", str(path), "--model", str(hubert), "--layer", "2", "--k", "8",
                                            "--out", str(units)], expect, [units], message, forbidden))
        if expect == "ok" and name not in CODEC_OK:  # good audio through the codec is tested elsewhere
            continue
        npz = outs / f"{stem}.npz"
        cases.append(Case(f"codec encode {name}", ["codec", "encode", str(path), str(npz), "--model", str(th)],
                          expect, [npz], message, forbidden))
    (outs / "t").mkdir()
    for name, (path, expect) in code_files(inputs).items():
        wav = outs / f"{Path(name).stem}-{Path(name).suffix[1:]}.wav"
        cases.append(Case(f"codec decode {name}", ["codec", "decode", str(path), str(wav), "--model", str(th)],
                          expect, [wav]))
    speech = inputs / "name with spaces é.wav"
    for name, argv, fragment in option_cases(speech, outs):
        cases.append(Case(f"option {name}", argv, "error", [], fragment))
    # outputs that would destroy an input, or that cannot be written
    good_npz = inputs / "good.npz"
    cases += [
        Case("mel png = input", ["mel", str(speech), "--png", str(speech)], "error", [], "input"),
        Case("transcribe over its own input", ["transcribe", str(inputs / "speech.txt"), "-o", str(inputs),
                                               "--beam-size", "1", "--quiet"], "error", [], "input"),
        Case("codec encode over input", ["codec", "encode", str(good_npz), str(good_npz), "--model", str(th)],
             "error", [], "input"),
        Case("codec decode over input", ["codec", "decode", str(good_npz), str(good_npz), "--model", str(th)],
             "error"),
        Case("mel png is a folder", ["mel", str(speech), "--png", str(outs)], "error", [], "folder"),
        Case("mel missing folder", ["mel", str(speech), "--png", str(outs / "no" / "x.png")], "error",
             [outs / "no" / "x.png"], "does not exist"),
        Case("mel to jpg", ["mel", str(speech), "--png", str(outs / "x.jpg")], "error", [outs / "x.jpg"]),
        Case("decode to mp3", ["codec", "decode", str(good_npz), str(outs / "d.mp3"), "--model", str(th)],
             "error", [outs / "d.mp3"]),
        Case("decode to txt", ["codec", "decode", str(good_npz), str(outs / "d.txt"), "--model", str(th)],
             "error", [outs / "d.txt"]),
        Case("encode to wav", ["codec", "encode", str(speech), str(outs / "e.wav"), "--model", str(th)],
             "error", [outs / "e.wav"]),
        Case("transcribe to a file as folder", ["transcribe", str(speech), "-o", str(good_npz), "--quiet"],
             "error"),
        Case("model is a random .pt", ["transcribe", str(speech), "--model", str(inputs / "random.wav"),
                                       "-o", str(outs / "t")], "error"),
        Case("units over input", ["units", str(speech), "--model", str(hubert), "--out", str(speech)], "error", [],
             "input"),
        Case("units features over input", ["units", str(speech), "--model", str(hubert), "--features",
                                           str(speech)], "error", [], "input|.npy"),
        Case("units features to txt", ["units", str(speech), "--model", str(hubert), "--features",
                                       str(outs / "f.txt")], "error", [outs / "f.txt"], ".npy"),
        Case("units k 1", ["units", str(speech), "--model", str(hubert), "--k", "1"], "error"),
        Case("units layer 9", ["units", str(speech), "--model", str(hubert), "--layer", "9", "--out",
                               str(outs / "u9.txt")], "error", [outs / "u9.txt"], "layer 9"),
        Case("units k over frames", ["units", str(inputs / "192k.wav"), "--model", str(hubert), "--layer", "2",
                                     "--k", "500", "--out", str(outs / "uk.txt")], "error", [outs / "uk.txt"],
             "fewer than"),
        Case("units codebook is audio", ["units", str(speech), "--model", str(hubert), "--kmeans",
                                         str(inputs / "random.wav"), "--out", str(outs / "uc.txt")], "error",
             [outs / "uc.txt"], "k-means"),
        Case("units codebook missing", ["units", str(speech), "--kmeans", str(inputs / "none.npy")], "error", [],
             "does not exist"),
        Case("units fit on a damaged file", ["units", str(speech), "--model", str(hubert), "--fit", str(speech),
                                             str(inputs / "text.wav"), "--out", str(outs / "uf.txt")], "error",
             [outs / "uf.txt"], "text.wav"),
        Case("units model is audio", ["units", str(speech), "--model", str(inputs / "random.wav")], "error"),
        Case("units model runs code", ["units", str(speech), "--model", str(_code_running_pt(inputs)), "--out",
                                       str(outs / "ux.txt")], "error", [outs / "ux.txt"], "asks to run"),
        Case("units model is a cut .pt", ["units", str(speech), "--model", str(_cut_pt(inputs)), "--out",
                                          str(outs / "ut.txt")], "error", [outs / "ut.txt"], "checkpoint"),
    ]
    return cases


def test_bad_input_corpus(tmp_path: Path, data: Path, encodec_th: Path, small_hubert: Path,
                          capfd: pytest.CaptureFixture[str]) -> None:
    cases = _cases(tmp_path, data, encodec_th, small_hubert)
    before = digest(tmp_path / "in")
    problems: list[str] = []
    tally: Counter[str] = Counter()
    took: dict[str, float] = {}
    for case in cases:
        for p in case.outputs:
            p.unlink(missing_ok=True)
        t0 = time.perf_counter()
        rc, out, err, escaped = _run(case.argv, capfd)
        took[case.name] = time.perf_counter() - t0
        said = err.lower()
        if escaped or "traceback" in said:
            tally["traceback"] += 1
            problems.append(f"{case.name}: traceback {escaped or err[-300:]}")
            continue
        made = [p for p in case.outputs if p.exists()]
        if rc == 0:
            if case.expect == "error":
                tally["silent wrong"] += 1
                problems.append(f"{case.name}: exit 0, expected a refusal")
            elif len(made) != len(case.outputs):
                tally["silent wrong"] += 1
                problems.append(f"{case.name}: exit 0 but no output")
            elif case.argv[0] == "transcribe" and Path(case.argv[1]).name in HAS_SPEECH:
                text = case.outputs[0].read_text(encoding="utf-8").lower()
                if SPEECH_WORD not in text:
                    tally["silent wrong"] += 1
                    problems.append(f"{case.name}: transcript {text!r} misses the speech")
            tally["ok"] += 1
        else:
            first = err.strip().splitlines()[0].lower() if err.strip() else ""
            if case.expect == "ok":
                problems.append(f"{case.name}: refused a good input: {err.strip()[:200]}")
            elif not (first.startswith("error:") or first.startswith("usage:")) or rc != 2:
                problems.append(f"{case.name}: exit {rc} without a one-line message: {err[-200:]!r}")
            elif case.message and not any(m in said for m in case.message.split("|")):
                problems.append(f"{case.name}: message lacks {case.message!r}: {err.strip()[:200]}")
            elif case.forbidden and case.forbidden in said:
                problems.append(f"{case.name}: message wrongly says {case.forbidden!r}: {err.strip()[:200]}")
            elif made:
                problems.append(f"{case.name}: refused but left {made[0].name}")
            tally["refused"] += 1
    changed = changed_files(before, tmp_path / "in")
    leftovers = _leftovers(tmp_path)
    tally["modified inputs"] = len(changed)
    tally["partial files"] = len(leftovers)
    print(f"\nbad-input corpus: {len(cases)} cases, {tally['ok']} accepted, {tally['refused']} refused, "
          f"{tally['traceback']} tracebacks, {tally['silent wrong']} silent wrong results, "
          f"{len(changed)} modified inputs, {len(leftovers)} partial files")
    slow = sorted(took.items(), key=lambda kv: -kv[1])[:5]
    print(f"{sum(took.values()):.0f} s in all; slowest: " + ", ".join(f"{n} {t:.1f} s" for n, t in slow))
    problems += [f"input changed: {n}" for n in changed] + [f"left behind: {p}" for p in leftovers]
    if (tmp_path / "in" / "ran.txt").exists():
        problems.append("a checkpoint's pickle ran a shell command")
    assert not problems, "\n".join(problems)


def test_damaged_mp3_is_quiet_and_named_in_a_real_process(tmp_path: Path) -> None:
    """The decoder libraries print to file descriptor 2 themselves; a user sees one line from us."""
    bad = tmp_path / "song.mp3"
    bad.write_bytes(bytes(range(256)) * 200)
    run = subprocess.run([sys.executable, "-m", "studio", "mel", str(bad), "--png", str(tmp_path / "s.png")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = [s for s in run.stderr.splitlines() if s.strip()]
    assert lines[0].startswith("error:") and "Traceback" not in run.stderr
    assert len(lines) <= 2, run.stderr  # the message and its remedy, no decoder chatter
