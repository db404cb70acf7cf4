"""The bad-input corpus (tests/badinputs.py) through the panels: every damaged file opened in the Spectrogram,
Transcribe and Codec panels is a message naming the file, never "a bug in Voice Studio", and no input changes."""

from __future__ import annotations

from pathlib import Path

from badinputs import audio_files, changed_files, code_files, digest

BUG = "bug in voice studio"


def _settle(qtbot, window) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: not window.worker.worker.pending(), timeout=60000)
    qtbot.wait(30)  # the finished/failed signals are queued to this thread


def test_damaged_files_in_every_panel_are_messages(qtbot, window, tmp_path: Path, data: Path) -> None:  # noqa: ANN001
    inputs = tmp_path / "in"
    inputs.mkdir()
    audio = audio_files(inputs, data)
    codes = code_files(inputs)
    before = digest(inputs)
    problems: list[str] = []
    opened = refused = 0

    def check(what: str, name: str, expect: str) -> None:
        nonlocal opened, refused
        said = window.banner.text.lower() if window.banner.isVisible() else ""
        if BUG in said or "unexpected" in said:
            problems.append(f"{what} {name}: {said[:200]}")
        elif said:
            refused += 1
            if expect == "ok":
                problems.append(f"{what} {name}: refused a good file: {said[:200]}")
        else:
            opened += 1
            if expect == "error":
                problems.append(f"{what} {name}: opened without a message")
        window.banner.hide()

    for name, (path, expect, _, _) in audio.items():
        window.spectrogram.open_file(str(path))
        _settle(qtbot, window)
        check("spectrogram", name, expect)
        window.transcribe.open_file(str(path))
        _settle(qtbot, window)
        check("transcribe", name, expect)
    for name, (path, expect) in codes.items():
        window.codec.open_file(str(path))
        _settle(qtbot, window)
        check("codec", name, expect)
        if expect == "error":
            shown = window.codec.file_label.text()
            assert name not in shown or window.codec.analysis is None, f"{name}: the old grid kept its name"
    changed = changed_files(before, inputs)
    print(f"\nbad-input corpus in the panels: {opened} opened, {refused} refused with a message, "
          f"{len(problems)} problems, {len(changed)} modified inputs")
    assert not problems and not changed, "\n".join(problems + changed)
