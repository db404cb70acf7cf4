"""The Record panel shows every library failure as a message, never raises inside a Qt callback, keeps each deleted
file until its undo, and shows dropped audio while recording (issue 10, section 1)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sys
import types
from pathlib import Path

import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from test_recorder_safety import FakeStream

SHOTS = Path(os.environ.get("STUDIO_SHOTS", "")) if os.environ.get("STUDIO_SHOTS") else None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refuse(code: int):  # noqa: ANN202
    def fail(*_a: object, **_k: object) -> None:
        raise OSError(code, os.strerror(code))
    return fail


def _shot(window, name: str) -> None:  # noqa: ANN001
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(SHOTS / f"{name}.png"))


def test_import_on_a_full_disk_shows_a_message_and_leaves_nothing(qtbot, window, data, monkeypatch):  # noqa: ANN001
    panel = window.record
    source = data / "jfk.flac"
    before = _sha(source)

    def half_then_full(src, dst, *_a: object) -> None:  # noqa: ANN001
        dst.write(src.read(1000))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "_USE_CP_SENDFILE", False)
    monkeypatch.setattr(shutil, "copyfileobj", half_then_full)
    panel.import_files([source])
    assert "Cannot write" in window.banner.text and "the disk is full" in window.banner.text
    _shot(window, "import-disk-full")
    assert panel.table.rowCount() == 0 and list(panel.library.folder.iterdir()) == []
    assert _sha(source) == before


@pytest.mark.parametrize("code, reason", [(errno.EACCES, "permission denied"),
                                          (errno.EROFS, "the file system is read-only")])
def test_delete_failure_shows_a_message_and_keeps_the_recording(qtbot, window, data, monkeypatch,  # noqa: ANN001
                                                                code: int, reason: str):
    panel = window.record
    panel.import_files([data / "jfk.flac"])
    panel.table.selectRow(0)
    monkeypatch.setattr(os, "rename", _refuse(code))
    monkeypatch.setattr(shutil, "move", _refuse(code))
    qtbot.mouseClick(panel.delete_btn, Qt.LeftButton)
    assert "Cannot delete" in window.banner.text and reason in window.banner.text
    assert panel.table.rowCount() == 1 and (panel.library.folder / "jfk.flac").is_file()
    assert panel.undo.count() == 0 and not panel.undo_btn.isEnabled()


def test_rename_failure_shows_a_message(qtbot, window, data, monkeypatch):  # noqa: ANN001
    panel = window.record
    panel.import_files([data / "jfk.flac"])
    monkeypatch.setattr(Path, "rename", _refuse(errno.EACCES))
    panel.table.item(0, 0).setText("interview")
    assert "Cannot rename" in window.banner.text and "permission denied" in window.banner.text
    assert panel.table.item(0, 0).text() == "jfk" and (panel.library.folder / "jfk.flac").is_file()


def test_deleting_the_same_name_twice_then_undoing_both_restores_both(qtbot, window, tmp_path):  # noqa: ANN001
    panel = window.record
    folder = panel.library.folder
    contents = []
    for seconds in (1.0, 2.0):
        a = folder / "A.wav"
        sf.write(a, [0.1] * int(16000 * seconds), 16000)
        contents.append(a.read_bytes())
        panel.refresh_library(select=a)
        qtbot.mouseClick(panel.delete_btn, Qt.LeftButton)
        assert panel.table.rowCount() == 0
    qtbot.mouseClick(panel.undo_btn, Qt.LeftButton)
    qtbot.mouseClick(panel.undo_btn, Qt.LeftButton)
    assert not window.banner.text
    assert sorted(panel.table.item(r, 0).text() for r in range(panel.table.rowCount())) == ["A", "A (2)"]
    assert (folder / "A.wav").read_bytes() == contents[1] and (folder / "A (2).wav").read_bytes() == contents[0]


def test_undo_that_cannot_restore_shows_a_message(qtbot, window, data):  # noqa: ANN001
    panel = window.record
    panel.import_files([data / "jfk.flac"])
    panel.table.selectRow(0)
    qtbot.mouseClick(panel.delete_btn, Qt.LeftButton)
    for p in panel.library.trash.rglob("*.flac"):  # emptied outside Voice Studio
        p.unlink()
    qtbot.mouseClick(panel.undo_btn, Qt.LeftButton)  # pytest-qt fails the test on an exception in a callback
    assert "'jfk.flac' is no longer in the trash" in window.banner.text
    assert panel.undo.count() == 0 and not panel.undo_btn.isEnabled()


def test_overflows_while_recording_are_shown_with_their_count(qtbot, window, monkeypatch):  # noqa: ANN001
    panel = window.record
    module = types.ModuleType("sounddevice")
    module.InputStream = FakeStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    monkeypatch.setattr(FakeStream, "BLOCKS", [(0.2, i in (3, 9, 11, 20)) for i in range(40)])
    monkeypatch.setattr(FakeStream, "release", __import__("threading").Event())
    statuses: list[str] = []
    panel.status.connect(statuses.append)
    panel.start_recording()
    assert panel.recorder is not None
    qtbot.waitUntil(lambda: panel.overflow_label.isVisible(), timeout=5000)
    qtbot.waitUntil(lambda: panel.recorder.overflows == 4, timeout=5000)
    qtbot.waitUntil(lambda: "4 input overflows" in panel.overflow_label.text(), timeout=5000)
    assert panel.overflow_label.text() == "⚠ 4 input overflows: some audio was dropped"
    _shot(window, "recording-overflows")
    panel.stop_recording()
    qtbot.waitUntil(lambda: any(s.startswith("Saved ") for s in statuses), timeout=5000)
    assert panel.overflow_label.isVisible()
    assert any(s.startswith("Saved ") and s.endswith("— 4 input overflows: some audio was dropped") for s in statuses)
    path = panel.selected_path()
    assert path is not None and not (path.parent / f".{path.name}.recording").exists()


class SlowStopStream(FakeStream):
    """A stream whose stop waits for the test (a sound server slow to stop), then fails if `FAIL` says so."""

    gate = __import__("threading").Event()
    saw_gate: list[bool] = []
    FAIL = False

    def stop(self) -> None:
        SlowStopStream.saw_gate.append(SlowStopStream.gate.wait(5))
        super().stop()
        if SlowStopStream.FAIL:
            raise RuntimeError("Error stopping stream: Unanticipated host error")


@pytest.fixture
def slow_stop(monkeypatch):  # noqa: ANN001, ANN201
    import threading

    module = types.ModuleType("sounddevice")
    module.InputStream = SlowStopStream  # type: ignore[attr-defined]
    module.query_devices = lambda *a, **k: []  # type: ignore[attr-defined]  # a new panel lists devices
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    monkeypatch.setattr(FakeStream, "BLOCKS", [(0.1, False)] * 20)
    monkeypatch.setattr(FakeStream, "release", threading.Event())
    monkeypatch.setattr(SlowStopStream, "gate", threading.Event())
    monkeypatch.setattr(SlowStopStream, "saw_gate", [])
    monkeypatch.setattr(SlowStopStream, "FAIL", False)
    return SlowStopStream


def test_stop_closes_the_stream_off_the_ui_thread(qtbot, window, slow_stop):  # noqa: ANN001
    """Stop returns while the stream is still stopping (the gate opens only after it returned); Record is off
    until the file is closed, then the take is in the library, complete and unmarked."""
    panel = window.record
    statuses: list[str] = []
    panel.start_recording()
    qtbot.waitUntil(lambda: panel.recorder.frames_written > 0, timeout=5000)
    panel.status.connect(statuses.append)
    panel.stop_recording()
    assert not panel.record_btn.isEnabled() and not statuses
    slow_stop.gate.set()
    qtbot.waitUntil(lambda: panel.record_btn.isEnabled(), timeout=10000)
    assert slow_stop.saw_gate == [True]
    assert any(s.startswith("Saved ") for s in statuses)
    path = panel.selected_path()
    assert path is not None and sf.info(str(path)).frames > 0
    assert not (path.parent / f".{path.name}.recording").exists()


def test_closing_the_window_while_a_stop_is_under_way_waits_for_the_file(qtbot, window, slow_stop):  # noqa: ANN001
    panel = window.record
    panel.start_recording()
    qtbot.waitUntil(lambda: panel.recorder.frames_written > 0, timeout=5000)
    path = panel.recorder.path
    panel.stop_recording()
    stopping = panel._stopping
    assert stopping is not None and stopping.is_alive()
    slow_stop.gate.set()
    panel.shutdown()
    assert not stopping.is_alive() and sf.info(str(path)).frames > 0
    assert not (path.parent / f".{path.name}.recording").exists()


def test_a_stream_that_fails_to_stop_keeps_the_take_and_says_so(qtbot, window, slow_stop):  # noqa: ANN001
    panel = window.record
    slow_stop.FAIL = True
    slow_stop.gate.set()
    errors: list[tuple[str, str]] = []
    panel.error.connect(lambda m, r: errors.append((m, r)))
    panel.start_recording()
    qtbot.waitUntil(lambda: panel.recorder.frames_written > 0, timeout=5000)
    path = panel.recorder.path
    panel.stop_recording()  # pytest-qt fails the test on an exception in a callback
    qtbot.waitUntil(lambda: panel.record_btn.isEnabled(), timeout=10000)
    assert errors and "Closing the input device failed" in errors[-1][0] and "kept" in errors[-1][1]
    assert sf.info(str(path)).frames > 0


def test_record_waits_for_the_last_take_to_close_even_from_the_shortcut(qtbot, window, slow_stop):  # noqa: ANN001
    panel = window.record
    panel.start_recording()
    qtbot.waitUntil(lambda: panel.recorder.frames_written > 0, timeout=5000)
    panel.stop_recording()
    panel.toggle_record()  # what R does while the button is disabled
    assert panel.recorder is None
    slow_stop.gate.set()
    qtbot.waitUntil(lambda: panel.record_btn.isEnabled(), timeout=10000)
    slow_stop.gate = __import__("threading").Event()
    slow_stop.gate.set()
    panel.toggle_record()
    assert panel.recorder is not None and not panel.device_combo.isEnabled()
    panel.stop_recording()
    qtbot.waitUntil(lambda: panel.record_btn.isEnabled(), timeout=10000)


def test_a_hung_sound_server_does_not_hang_the_close(qtbot, window, slow_stop, monkeypatch):  # noqa: ANN001
    """The gate stays shut (a stream that never stops): closing waits a bounded time, then goes."""
    monkeypatch.setattr("studio.ui.record_panel.JOIN_AT_CLOSE_S", 0.2)
    panel = window.record
    panel.start_recording()
    qtbot.waitUntil(lambda: panel.recorder.frames_written > 0, timeout=5000)
    panel.stop_recording()
    stopping = panel._stopping
    panel.shutdown()
    assert stopping.is_alive()  # still stopping, but the close went on
    slow_stop.gate.set()
    stopping.join(10)


def test_a_panel_deleted_before_its_stop_ends_drops_the_result(qtbot, window, slow_stop):  # noqa: ANN001
    import shiboken6
    from PySide6.QtGui import QUndoStack

    from studio.ui.record_panel import RecordPanel

    panel = RecordPanel(window.worker, window.settings, QUndoStack())
    panel.start_recording()
    qtbot.waitUntil(lambda: panel.recorder.frames_written > 0, timeout=5000)
    path = panel.recorder.path
    panel.stop_recording()
    stopping = panel._stopping
    shiboken6.delete(panel)
    slow_stop.gate.set()
    stopping.join(10)
    qtbot.wait(200)  # pytest-qt fails the test on an exception in a callback
    assert sf.info(str(path)).frames > 0


def test_live_stopped_before_any_sound_keeps_no_empty_file(qtbot, window, slow_stop, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(FakeStream, "BLOCKS", [])  # the input never delivers
    slow_stop.gate.set()
    panel = window.transcribe
    statuses: list[str] = []
    panel.status.connect(statuses.append)
    panel.start_live()
    path = Path(panel._live_path)
    assert panel.recorder is not None and path.exists()
    panel.stop_live()
    qtbot.waitUntil(lambda: panel.live_btn.isEnabled(), timeout=10000)
    assert statuses[-1] == "Live stopped before any sound arrived from the input: nothing was recorded."
    assert not path.exists() and panel.live is None and panel.run_btn.isEnabled()
    panel.start_live()  # and a new session starts
    assert panel.recorder is not None
    panel.stop_live()
    qtbot.waitUntil(lambda: panel.live_btn.isEnabled(), timeout=10000)


def test_an_input_that_goes_quiet_is_reported_and_the_take_kept(qtbot, window, monkeypatch):  # noqa: ANN001
    """A device unplugged or a sound server gone ends PortAudio's blocks without an error: after the first audio,
    two quiet seconds (0.3 here) are reported; the take stays complete."""
    import threading

    module = types.ModuleType("sounddevice")
    module.InputStream = FakeStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    monkeypatch.setattr(FakeStream, "BLOCKS", [(0.2, False)] * 10)  # then nothing, until stop
    monkeypatch.setattr(FakeStream, "release", threading.Event())
    monkeypatch.setattr("studio.ui.record_panel.NO_INPUT_WARN_S", 0.3)
    panel = window.record
    panel.start_recording()
    qtbot.waitUntil(lambda: panel.overflow_label.isVisible(), timeout=5000)
    assert panel.overflow_label.text().startswith("⚠ No audio from the input for ")
    tip = panel.overflow_label.toolTip()
    qtbot.waitUntil(lambda: panel.meter.level_db < -90, timeout=2000)  # the meter falls, not held at the last block
    assert "unplugged" in tip and "recorded is saved" in tip
    assert window.minimumSizeHint().width() <= 1366  # the warning still lets the window fit a laptop screen
    path = panel.recorder.path
    frames = panel.recorder.frames_written
    panel.stop_recording()
    qtbot.waitUntil(lambda: panel.record_btn.isEnabled(), timeout=10000)
    assert sf.info(str(path)).frames == frames > 0
