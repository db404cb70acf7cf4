"""The Voice panel in the window, as a user goes through it: a recording in the Record panel -> Enroll voice ->
correct the transcript -> save -> the new voice is chosen on the Speak side -> synthesize -> cancel a second run ->
the prompt's and the generated grids; F2 and Delete act on voices there. Small random VALL-E, random EnCodec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import drop_files
from PySide6.QtCore import Qt

DATA = Path(__file__).parent / "data"



def test_record_enroll_speak_cancel_and_see_both_grids(qtbot, window, small_models) -> None:  # noqa: ANN001
    valle, codec = small_models
    panel = window.voice
    panel.codec = codec
    panel.speak.set_model_file(valle)
    panel.speak.controls.check_words.setChecked(False)

    drop_files(window.record, [DATA / "vallex-en-1.wav"])
    window.record.table.selectRow(0)
    qtbot.mouseClick(window.record.enroll_btn, Qt.LeftButton)
    assert window.stack.currentWidget() is panel
    enroll = panel.voices.enroll
    qtbot.waitUntil(lambda: enroll.preview is not None, timeout=240000)
    assert enroll.transcript.toPlainText().strip()
    enroll.transcript.setPlainText("A family lived here")
    enroll.name.setText("Reader")
    with qtbot.waitSignal(panel.voices.voices_changed, timeout=30000):
        qtbot.mouseClick(enroll.save_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.speak.voice is not None and panel.speak.voice.name == "Reader", timeout=10000)
    voice = panel.speak.voice
    assert Path(voice.path).parent == Path(window.settings.voices_folder)

    speak = panel.speak
    speak.text.setPlainText("Good morning. See you soon.")
    qtbot.waitUntil(lambda: speak._plan_current(), timeout=30000)
    qtbot.mouseClick(speak.synth_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not speak._runs, timeout=120000)
    takes = speak.current_takes()
    assert len(takes) == 2 and all(t is not None for t in takes)
    speak.sentences.select(0)
    qtbot.waitUntil(lambda: not speak.take_view.drawing, timeout=5000)
    grid = speak.take_view.grid
    p, n = voice.audio_tokens.shape[0], takes[0].codes.shape[1]
    assert grid.codes.shape == (8, p + n)
    assert np.array_equal(grid.codes[:, :p], voice.audio_tokens.T)  # the prompt's grid, then the generated one

    # a second run, cancelled at its first frames: the takes already there stay
    speak.text.setPlainText("Good morning. See you soon. " + " ".join(["And one more sentence here."] * 6))
    qtbot.waitUntil(lambda: speak._plan_current(), timeout=30000)
    messages: list[str] = []
    window.worker.progress.connect(lambda _id, _f, message: messages.append(message))
    qtbot.mouseClick(speak.synth_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: any("frame" in m for m in messages), timeout=60000)
    qtbot.mouseClick(speak.cancel_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not speak._runs, timeout=60000)
    assert speak.synth_btn.isEnabled()
    finished = sum("codebook 8 of 8" in m for m in messages)
    assert finished < len(speak.current_takes()) == 8  # stopped before the last sentence

    # F2 / Delete act on the voice while the Voice panel is shown, and Undo brings it back
    panel.voices.select(voice.path)
    window.delete_selected()
    qtbot.waitUntil(lambda: not Path(voice.path).exists(), timeout=5000)
    assert window.undo_group.activeStack() is panel.voices.undo  # Ctrl+Z on this panel undoes voice deletes
    window.undo_group.undo()
    assert Path(voice.path).exists()


def test_offline_an_imported_24_khz_codec_serves_the_voice_panel(qtbot, window, small_models, tmp_path) -> None:  # noqa: ANN001
    """The Hub's facebook/encodec_24khz cannot be fetched offline: importing an EnCodec 24 kHz file makes it the
    panel's codec (it was used by the Codec panel only), and a new window picks it up again."""
    from studio.hub.local_import import import_weights

    _, codec = small_models
    window.settings.cache_folder = str(tmp_path / "cache")
    imported = import_weights(codec, cache_dir=tmp_path / "cache")
    window.voice.add_imported(imported)
    assert window.voice.codec == imported.path == window.voice.voices.codec

    from studio.ui.voice_panel import VoicePanel

    again = VoicePanel(window.worker, window.settings)
    qtbot.addWidget(again)
    assert again.codec == imported.path
    again.shutdown()


def test_the_window_paints_before_building_the_voice_panels_take_view(qtbot, settings) -> None:  # noqa: ANN001
    """Start-up leaves the take view (eight plots) and the codec lookup until the window is on screen; both are
    there right after, before the panel is ever shown."""
    from studio.ui.main_window import MainWindow

    w = MainWindow(settings)
    qtbot.addWidget(w)
    assert w.voice.speak._take_view is None and not w.voice._codec_chosen
    w.show()
    qtbot.waitUntil(lambda: w.voice.speak._take_view is not None, timeout=10000)
    assert w.voice._codec_chosen and not w.voice.isVisible()
    assert w.voice.speak.take_view is w.voice.speak._take_view  # built once
    w.close()
