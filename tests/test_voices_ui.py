"""The Voices side of the Voice panel, driven as a user would (offscreen): the library (import, rename, delete and
undo, skipped files) and enrollment through the real bundled tiny.en transcriber and a random-weights EnCodec."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QScrollArea

from studio.audio.io import load_audio
from studio.engine.clone.enroll import prompt_sentence
from studio.engine.clone.voices import load_voice

PRESET = "vallex-preset-librispeech_1.npz"
SR = 24000


@pytest.fixture(scope="module")
def codec_file(small_models):
    return Path(small_models[1])


@pytest.fixture
def view(qtbot, settings, tmp_path):
    import gc

    from studio.ui.voices_view import VoicesView
    from studio.worker.qt import QtWorker

    worker = QtWorker("cpu", mode="thread")  # quick_preview's fake shares what it saw with the test: no copies
    v = VoicesView(worker, settings, folder=tmp_path / "voices")
    qtbot.addWidget(v)
    v.resize(460, 800)
    v.show()
    v.errors = []  # what the panel sent to the window's banner
    v.error.connect(lambda message, remedy: message and v.errors.append(message))  # "" clears the banner
    yield v
    v.shutdown()
    worker.shutdown()
    gc.collect()


def names(view) -> list[str]:
    return [view.table.item(r, 0).text() for r in range(view.table.rowCount())]


def test_import_rename_delete_undo_and_skipped_files(qtbot, view, data, tmp_path):
    folder = tmp_path / "voices"
    assert names(view) == [] and not view.errors and not view.skipped.isVisible()
    selected = []
    view.voice_selected.connect(selected.append)
    with qtbot.waitSignal(view.voices_changed, timeout=1000):
        view.import_presets([str(data / PRESET), str(data / "jfk.flac")])  # the second is not a preset
    assert names(view) == ["vallex-preset-librispeech_1"]
    assert [view.table.item(0, c).text() for c in (1, 2)] == ["English", "3.0 s"]
    assert selected == [str(folder / PRESET)] and "58 phonemes" in view.details.text()
    assert view.errors and "jfk.flac" in view.errors[-1]

    (folder / "broken.npz").write_bytes(b"not a zip")
    view.refresh()
    assert view.skipped.isVisible() and "broken.npz" in view.skipped.text() and "zip" in view.skipped.text()

    view.table.setFocus()  # F2 opens the name for editing, as in the Record panel
    qtbot.keyClick(view.table, Qt.Key_F2)
    editor = view.table.viewport().focusWidget()
    assert editor is not None and hasattr(editor, "setText"), "F2 opened no editor"
    with qtbot.waitSignal(view.voices_changed, timeout=1000):
        editor.setText("Narrator")
        qtbot.keyClick(editor, Qt.Key_Return)
    assert names(view) == ["Narrator"] and view.selected_path() == str(folder / "Narrator.npz")
    assert not (folder / PRESET).exists() and load_voice(folder / "Narrator.npz").name == "Narrator"
    assert selected[-1] == str(folder / "Narrator.npz")

    with qtbot.waitSignal(view.voices_changed, timeout=1000):
        qtbot.mouseClick(view.delete_btn, Qt.LeftButton)
    assert names(view) == [] and not (folder / "Narrator.npz").exists() and selected[-1] == ""
    assert view.undo_btn.isEnabled()
    with qtbot.waitSignal(view.voices_changed, timeout=1000):
        qtbot.mouseClick(view.undo_btn, Qt.LeftButton)
    assert names(view) == ["Narrator"] and view.selected_path() == str(folder / "Narrator.npz")
    assert load_voice(folder / "Narrator.npz").name == "Narrator" and not view.undo_btn.isEnabled()

    view.table.item(0, 0).setText("  ")  # a bad name is a message; the voice keeps its name
    assert "not a usable voice name" in view.errors[-1] and names(view) == ["Narrator"]


def test_enroll_a_recording_correct_the_transcript_listen_to_k_codebooks_and_save(qtbot, view, data, codec_file):
    from studio.engine.clone.phonemes import text_to_ids

    view.codec = str(codec_file)
    enroll = view.enroll
    source = data / "vallex-en-1.wav"
    before = source.read_bytes()
    view.enroll_file(str(source))
    assert view.pages.currentWidget() is enroll and enroll.name.text() == "vallex-en-1"
    assert enroll.cancel_btn.isVisible() and not enroll.save_btn.isEnabled()
    qtbot.waitUntil(lambda: enroll.preview is not None, timeout=240000)
    p = enroll.preview
    heard = enroll.transcript.toPlainText()
    assert heard == p.transcript and {"lived", "family"} <= set(heard.lower().replace(".", "").split()), heard
    facts = enroll.facts.text()
    assert "mono" in facts and "SNR" in facts and "copied into every output" in enroll.facts.toolTip()
    assert f"{p.check.original_duration:.1f} s recorded" in facts
    assert ("trimmed", pytest.approx(-p.check.trimmed[0]), 0.0) in enroll.waveform.regions  # the lead-in
    assert enroll.grid.codes.shape == (8, p.codes.shape[1]) and not enroll.cancel_btn.isVisible()

    edited = "Here lived a family of readers"  # the user corrects the transcript
    enroll.transcript.setPlainText(edited)
    qtbot.waitUntil(lambda: "phonemes:" in enroll.ids_label.text(), timeout=10000)

    enroll.k_slider.setValue(2)
    assert enroll.grid.k_band.getRegion() == (2, 8)
    qtbot.mouseClick(enroll.play_btn, Qt.LeftButton)  # decodes the first 2 codebooks on the worker, then plays
    qtbot.waitUntil(lambda: 2 in enroll.reconstructions, timeout=60000)
    audio, rate = sf.read(enroll.reconstructions[2])
    assert rate == SR and len(audio) == p.codes.shape[1] * 320
    enroll.player.stop()

    enroll.name.setText("Reader")
    with qtbot.waitSignal(view.voices_changed, timeout=30000):
        qtbot.mouseClick(enroll.save_btn, Qt.LeftButton)
    assert view.pages.currentIndex() == 0 and names(view) == ["Reader"]
    voice = load_voice(view.selected_path())
    assert voice.prompt_text == prompt_sentence(edited) == edited + "."
    np.testing.assert_array_equal(voice.text_tokens, text_to_ids(edited + ".", "en").ids)
    np.testing.assert_array_equal(voice.audio_tokens, p.codes.T)
    assert voice.language == "en" and voice.duration == p.codes.shape[1] / 75
    assert source.read_bytes() == before and not view.errors


def test_a_one_second_recording_is_refused_with_the_reason(qtbot, view, data, tmp_path):
    x = load_audio(data / "vallex-en-1.wav", SR)[int(0.6 * SR): int(1.6 * SR)]
    short = tmp_path / "short.wav"
    sf.write(short, x, SR)
    view.enroll_file(str(short))
    qtbot.waitUntil(lambda: bool(view.errors), timeout=60000)
    assert "at least 2 s" in view.errors[-1] and "at least 2 s" in view.enroll.message.text()
    assert view.enroll.preview is None and not view.enroll.save_btn.isEnabled()
    with qtbot.waitSignal(view.enroll.closed, timeout=1000):
        qtbot.mouseClick(view.enroll.back_btn, Qt.LeftButton)
    assert view.pages.currentIndex() == 0 and names(view) == []


def test_a_stereo_recording_is_mixed_down_and_cancel_stops_the_check(qtbot, view, data, tmp_path, codec_file):
    view.codec = str(codec_file)
    x = load_audio(data / "vallex-en-1.wav", SR)
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([x, 0.5 * x], axis=1), SR)
    view.enroll_file(str(stereo))
    qtbot.mouseClick(view.enroll.cancel_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: "Cancelled" in view.enroll.message.text(), timeout=30000)
    assert view.enroll.preview is None and not view.enroll.cancel_btn.isVisible()
    assert view.enroll.again_btn.isEnabled()

    qtbot.mouseClick(view.enroll.again_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.enroll.preview is not None, timeout=240000)
    assert view.enroll.preview.check.channels == 2
    assert "stereo, mixed down" in view.enroll.facts.text()


def test_japanese_is_greyed_out_when_the_engine_cannot_read_it(qtbot, settings, tmp_path, monkeypatch):
    import studio.engine.clone.jobs as jobs
    from studio.ui.voices_view import VoicesView
    from studio.worker.qt import QtWorker

    why = "Japanese is unavailable: the package pyopenjtalk is missing or cannot load."
    monkeypatch.setattr(jobs, "unavailable_languages", lambda ctx=None: {"ja": why})
    worker = QtWorker("cpu")
    view = VoicesView(worker, settings, folder=tmp_path / "voices")
    qtbot.addWidget(view)
    combo = view.enroll.language
    ja = combo.findData("ja")
    try:
        qtbot.waitUntil(lambda: not combo.model().item(ja).isEnabled(), timeout=10000)
        assert why in combo.itemData(ja, Qt.ToolTipRole)
        assert combo.model().item(combo.findData("en")).isEnabled()
    finally:
        view.shutdown()
        worker.shutdown()


def test_a_voice_plays_its_prompt_decoded_with_the_codec(qtbot, view, data, codec_file, tmp_path):
    view.codec = str(codec_file)
    view.import_presets([str(data / PRESET)])
    view.toggle_play()
    qtbot.waitUntil(lambda: bool(view._decoded), timeout=60000)
    wav = next(iter(view._decoded.values()))
    audio, rate = sf.read(wav)
    assert rate == SR and len(audio) == 225 * 320 and Path(wav).parent == view._out_dir
    view.player.stop()


@pytest.fixture
def quick_preview(monkeypatch):
    """The enrollment's worker step without its models: the real prompt check, a fixed transcript and random codes.
    A recording whose name starts with "slow" keeps the worker busy until it is cancelled (a minute at most)."""
    import studio.ui.enroll_view as enroll_view
    from studio.engine.clone.enroll import EnrollmentPreview
    from studio.engine.clone.prompt_check import check_prompt
    from studio.engine.waveform import compute_envelope

    started: list[str] = []

    def preview(ctx, path, language, cache_dir, asr_model, codec):
        started.append(path)
        end = time.monotonic() + (60 if Path(path).name.startswith("slow") else 0)
        while time.monotonic() < end:
            ctx.check()
            time.sleep(0.01)
        c = check_prompt(path, check=ctx.check)
        codes = np.random.default_rng(0).integers(0, 1024, (8, -(-len(c.samples) // 320)))
        return EnrollmentPreview(path, language, c, "Here lived a family.", codes), compute_envelope(path, 800)

    monkeypatch.setattr(enroll_view, "PREVIEW", preview)
    return started


def copy(data: Path, to: Path) -> Path:
    to.write_bytes((data / "vallex-en-1.wav").read_bytes())
    return to


def test_a_new_recording_cancels_the_check_still_running(qtbot, view, data, tmp_path, quick_preview):
    slow = copy(data, tmp_path / "slow.wav")
    cancelled = []
    view.worker.cancelled.connect(lambda job, _: cancelled.append(job))
    view.enroll_file(str(slow))
    first = view.enroll._job
    qtbot.waitUntil(lambda: quick_preview == [str(slow)], timeout=10000)  # the slow check is running
    view.enroll_file(str(data / "vallex-en-1.wav"))
    qtbot.waitUntil(lambda: view.enroll.preview is not None, timeout=20000)  # not after the slow one's minute
    assert first in cancelled and view.enroll.preview.source == str(data / "vallex-en-1.wav")


def test_cancel_stops_the_current_check_at_once(qtbot, view, data, tmp_path, quick_preview):
    enroll = view.enroll
    view.enroll_file(str(copy(data, tmp_path / "slow-1.wav")))
    view.enroll_file(str(copy(data, tmp_path / "slow-2.wav")))
    qtbot.mouseClick(enroll.cancel_btn, Qt.LeftButton)
    # at once: not when the worker gets round to the job
    assert "Cancelled" in enroll.message.text() and not enroll.busy and not enroll.cancel_btn.isVisible()
    assert enroll.again_btn.isEnabled()
    qtbot.waitUntil(lambda: not view.worker.worker.pending(), timeout=10000)
    qtbot.wait(50)
    assert enroll.preview is None and "Cancelled" in enroll.message.text()


def test_delete_and_rename_leave_the_hidden_list_alone(qtbot, view, data, tmp_path, quick_preview):
    view.import_presets([str(data / PRESET)])
    view.enroll_file(str(data / "vallex-en-1.wav"))
    view.delete_selected()  # what Delete and F2 call while the enrollment page covers the list
    view.rename_selected()
    assert names(view) == ["vallex-preset-librispeech_1"] and (tmp_path / "voices" / PRESET).exists()
    assert view.table.state() != QAbstractItemView.EditingState and not view.undo.canUndo()


def test_a_name_the_library_has_is_refused_at_save(qtbot, view, data, quick_preview):
    view.import_presets([str(data / PRESET)])
    enroll = view.enroll
    view.enroll_file(str(data / "vallex-en-1.wav"))
    qtbot.waitUntil(lambda: enroll.preview is not None, timeout=20000)
    enroll.name.setText("vallex-preset-librispeech_1")
    qtbot.mouseClick(enroll.save_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(view.errors), timeout=10000)
    assert "A voice named 'vallex-preset-librispeech_1' already exists." == view.errors[-1]
    assert "Choose another name" in enroll.message.text() and view.pages.currentWidget() is enroll
    assert names(view) == ["vallex-preset-librispeech_1"] and enroll.save_btn.isEnabled()
    enroll.name.setText("Reader")
    with qtbot.waitSignal(view.voices_changed, timeout=10000):
        qtbot.mouseClick(enroll.save_btn, Qt.LeftButton)
    assert names(view) == ["Reader", "vallex-preset-librispeech_1"] and view.pages.currentIndex() == 0


def test_a_voice_removed_outside_is_named_and_dropped(qtbot, view, data, tmp_path):
    folder = tmp_path / "voices"
    view.import_presets([str(data / PRESET), str(data / PRESET), str(data / PRESET)])
    first, second, third = (folder / f"vallex-preset-librispeech_1{s}.npz" for s in ("", " (2)", " (3)"))
    assert view.selected_path() == str(third)
    gone = "is no longer in the voices folder (removed outside Voice Studio)."

    third.unlink()
    view.delete_selected()
    assert view.errors[-1] == f"'vallex-preset-librispeech_1 (3)' {gone}"
    assert names(view) == ["vallex-preset-librispeech_1", "vallex-preset-librispeech_1 (2)"]

    view.table.selectRow(1)
    second.unlink()
    view.toggle_play()
    assert view.errors[-1] == f"'vallex-preset-librispeech_1 (2)' {gone}" and names(view) == [first.stem]

    view.import_presets([str(data / PRESET)])  # selected: the new one; the other is removed, then clicked
    first.unlink()
    view.table.selectRow(0)
    qtbot.waitUntil(lambda: len(names(view)) == 1, timeout=2000)
    assert view.errors[-1] == f"'vallex-preset-librispeech_1' {gone}"


def test_the_enrollment_page_fits_a_narrow_panel(qtbot, view, data, tmp_path, quick_preview):
    x = load_audio(data / "vallex-en-1.wav", SR)
    long_name = tmp_path / ("a_recording_with_a_name_far_longer_than_the_panel_is_wide_" * 3 + ".wav")
    sf.write(long_name, np.stack([x, np.zeros_like(x)], axis=1), SR)  # one channel silent
    view.resize(380, 740)
    view.enroll_file(str(long_name))
    enroll = view.enroll
    qtbot.waitUntil(lambda: enroll.preview is not None, timeout=20000)
    qtbot.wait(50)
    assert view.minimumSizeHint().width() <= 380 and view.width() == 380
    scroll = enroll.findChild(QScrollArea)
    assert scroll.widget().width() <= scroll.viewport().width()  # nothing cut off at the right
    for b in (enroll.again_btn, enroll.play_btn, enroll.original_btn, enroll.save_btn, enroll.back_btn):
        assert b.width() >= b.sizeHint().width(), b.text()  # whole words on every button
    assert "stereo: one channel is silent: used the other" in enroll.facts.text()
    assert enroll.preview.check.speech_db > -20  # the speech at its own level, not halved by the silent side
