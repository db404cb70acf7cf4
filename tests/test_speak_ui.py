"""The Speak view of the Voice panel, driven as a user would (offscreen): a small random VALL-E and a random EnCodec
stand in for the downloads, the real VALL-E X preset librispeech_1 is the voice."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from studio.engine.clone.result import FRAME_RATE, SAMPLE_RATE

DATA = Path(__file__).parent / "data"
VOICE = DATA / "vallex-preset-librispeech_1.npz"
PROMPT_FRAMES = 225
TWO = "Hello there. How are you today?"


@pytest.fixture(scope="module")
def small_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(VALL-E checkpoint, EnCodec release .th): small random VALL-E, random full-size 24 kHz codec."""
    pytest.importorskip("encodec")
    from test_codec import random_pair

    from studio.hub.valle_weights import save_checkpoint
    from studio.models.valle import VallE, ValleConfig

    folder = tmp_path_factory.mktemp("speak-models")
    torch.manual_seed(0)
    valle = folder / "valle-small.pt"
    save_checkpoint(VallE(ValleConfig(d_model=64, n_head=4, n_layer=2)).eval(), valle)
    ref, _ = random_pair(24)
    codec = folder / "encodec_24khz-random.th"
    torch.save(ref.state_dict(), codec)
    return str(valle), str(codec)


@pytest.fixture
def view(qtbot, settings):  # noqa: ANN001, ANN201
    import gc

    from studio.ui.gc_guard import GarbageCollector
    from studio.ui.speak_view import SpeakView
    from studio.worker.qt import QtWorker

    worker = QtWorker("cpu")
    v = SpeakView(worker, settings)
    GarbageCollector(v)  # as in the window: Python's collector runs on the UI thread only
    v.errors = []
    v.error.connect(lambda message, remedy: v.errors.append((message, remedy)))
    v.statuses = []
    v.status.connect(v.statuses.append)
    qtbot.addWidget(v)
    v.resize(1100, 900)
    v.show()
    yield v
    v.shutdown()
    worker.shutdown()
    gc.collect()


def ready(qtbot, view, models, text: str) -> None:  # noqa: ANN001
    valle, codec = models
    view.set_model_file(valle)
    view.codec = codec
    view.controls.check_words.setChecked(False)  # the transcriber is tested in test_clone_engine
    view.controls.top_k.setValue(50)
    view.set_voice(str(VOICE))
    view.text.setPlainText(text)
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)


def hover(qtbot, grid, t: float, row: float) -> None:  # noqa: ANN001
    """Move the mouse over the grid at (time, codebook row) as the window system would."""
    qtbot.wait(60)  # pyqtgraph passes on at most one mouse move per frame (1/60 s)
    scene = grid.getViewBox().mapViewToScene(QPointF(t, row))
    local = QPointF(grid.mapFromScene(scene))
    event = QMouseEvent(QEvent.MouseMove, local, grid.viewport().mapToGlobal(local), Qt.NoButton, Qt.NoButton,
                        Qt.NoModifier)
    QApplication.sendEvent(grid.viewport(), event)


def test_two_sentences_rows_grid_hover_regenerate_and_save(qtbot, view, small_models, tmp_path) -> None:
    ready(qtbot, view, small_models, TWO)
    assert view.sentences.count == 2 and view.voice.name
    assert "librispeech" in view.voice_label.text() and "3.0 s" in view.voice_label.text()
    row = view.sentences.row(0)
    assert row.meter.budget == pytest.approx(22.0 - view.voice.duration) and 0 < row.meter.seconds < row.meter.budget

    arrived: list[int] = []
    view.take_ready.connect(lambda _run, take: arrived.append(take.index))
    qtbot.mouseClick(view.synth_btn, Qt.LeftButton)
    assert view.cancel_btn.isEnabled() and not view.synth_btn.isEnabled()
    qtbot.waitUntil(lambda: not view._runs, timeout=120000)
    assert view.errors[-1] == ("", "") and arrived == [0, 1]  # each sentence appeared on its own
    takes = view.current_takes()
    assert all(t is not None for t in takes)
    for i, take in enumerate(takes):
        assert take.settings.seed == 1 + i and take.settings.top_k == 50
        assert f"{take.duration:.1f} s" in view.sentences.row(i).state.text()
        assert view.sentences.row(i).play_btn.isEnabled()
    assert view.progress.value() == 1000 and view.device_label.text() == "Device: cpu"

    # the grid: the prompt's frames, then the generated ones
    view.sentences.select(1)
    n = takes[1].codes.shape[1]
    grid = view.take_view.grid
    assert grid.codes.shape == (8, PROMPT_FRAMES + n)
    assert np.array_equal(grid.codes[:, PROMPT_FRAMES:], takes[1].codes)
    assert np.array_equal(grid.codes[:, :PROMPT_FRAMES], view.voice.audio_tokens.T)
    assert grid.prompt_band.getRegion() == pytest.approx((0, PROMPT_FRAMES / FRAME_RATE))
    frame = min(5, n - 1)
    hover(qtbot, grid, (PROMPT_FRAMES + frame + 0.5) / FRAME_RATE, 2.5)
    assert f"generated frame {frame}" in view.take_view.hover.text()
    looked = view.take_view.looked.text()
    assert f"Generated frame {frame}" in looked and "looked at ‘" in looked and "prompt's text" in looked
    assert "<span" in view.take_view.phonemes.text()  # the top phonemes highlighted
    hover(qtbot, grid, 10.5 / FRAME_RATE, 2.5)  # a prompt frame: its code, no attention
    assert "prompt frame 10" in view.take_view.hover.text()

    # sentence 2 again with a new seed: only its take changes, the old one stays in its history
    first, second = takes
    view.regenerate(1)
    qtbot.waitUntil(lambda: not view._runs, timeout=120000)
    new = view.current_takes()
    assert new[0] is first and new[1] is not second and new[1].settings.seed != second.settings.seed
    assert new[1].index == 1 and len(view.history.entries(view._key(1))) == 2
    assert view.sentences.row(1).history_btn.text() == "History (2)"
    menu = view.sentences.row(1).history_btn.menu()
    menu.aboutToShow.emit()
    actions = menu.actions()  # newest first, the one in use checked, each with its settings
    assert len(actions) == 2 and actions[0].isChecked() and f"seed {second.settings.seed} " in actions[1].text()
    assert "T 1.00 · top-k 50" in actions[1].text() and "ended" in actions[1].text() or "cap" in actions[1].text()
    actions[1].trigger()  # the earlier take brought back
    assert view.current_takes()[1] is second
    assert view.take_view.take is second

    out = tmp_path / "speech.wav"
    view.save_to(str(out))
    audio, rate = sf.read(out)
    assert rate == SAMPLE_RATE
    assert len(audio) == len(first.samples) + len(second.samples) + int(0.25 * SAMPLE_RATE)
    assert any(str(out) in s for s in view.statuses)
    before = VOICE.read_bytes()
    view.save_to(str(VOICE))  # the voice file is never written over
    assert "is the input file" in view.errors[-1][0]
    assert VOICE.read_bytes() == before


def test_cancel_keeps_the_takes_already_spoken(qtbot, view, small_models) -> None:
    ready(qtbot, view, small_models, "Good morning. " + "This second sentence is long enough to take a while. ")
    view.synthesize()
    qtbot.waitUntil(lambda: "Sentence 2: frame" in view.progress_label.text(), timeout=120000)
    qtbot.mouseClick(view.cancel_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not view._runs, timeout=30000)
    takes = view.current_takes()
    assert takes[0] is not None and takes[1] is None
    assert "Cancelled; 1 of 2" in view.progress_label.text()
    assert view.sentences.row(1).state.text() == "not spoken yet" and view.synth_btn.isEnabled()
    assert view.play_btn.isEnabled()  # what was spoken can be heard and saved


def test_missing_weights_offline_and_empty_text_are_messages(qtbot, view, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    view.settings.cache_folder = str(tmp_path / "empty-cache")
    view.set_voice(str(VOICE))
    view.synthesize()
    assert view.errors[-1][0] == "There is no text to speak."
    view.text.setPlainText("Hello there.")
    view.synthesize()  # waits for the plan of the new text, then submits
    qtbot.waitUntil(lambda: view.errors and "vallex-checkpoint.pt" in view.errors[-1][0] + view.errors[-1][1],
                    timeout=60000)
    assert "Import local weights" in " ".join(view.errors[-1])
    assert not view._runs and view.synth_btn.isEnabled() and view.current_takes() == [None]
    view.set_voice(str(tmp_path / "gone.npz"))  # a voice file deleted under us: a message, the voice kept
    assert view.voice is not None and "gone.npz" in view.errors[-1][0]


def test_plan_shows_splits_dropped_symbols_and_long_text_keeps_the_window_live(qtbot, view) -> None:
    view.set_voice(str(VOICE))
    long_sentence = ("This sentence goes on and on, with clause after clause, and word after word, " * 6).strip() + "."
    view.text.setPlainText(f"Short one ☺. {long_sentence}")
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)
    plan = view.plan
    assert plan.error is None and len(plan.sentences) >= 3 and not plan.sentences[0].split
    assert all(s.split for s in plan.sentences[1:]) and all(s.seconds <= s.budget for s in plan.sentences)
    assert "☺" in plan.sentences[0].dropped and "not spoken: ☺" in view.sentences.row(0).dropped.text()
    assert not view.sentences.row(1).split_tag.isHidden() and "split to fit" in view.plan_label.text()

    words = ("river mountain quiet garden yellow window purple morning silver bridge paper forest thunder candle "
             "harbor meadow lantern orchard velvet compass").split()
    rng = random.Random(0)
    sentences = []
    while sum(len(s) + 1 for s in sentences) < 5000:
        sentences.append(" ".join(rng.choice(words) for _ in range(rng.randint(6, 14))).capitalize() + ".")
    text = " ".join(sentences)[:5000]
    gaps, last = [], [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=20)
    timer.timeout.connect(tick)
    timer.start()
    started = time.perf_counter()
    view.text.setPlainText(text)
    qtbot.waitUntil(lambda: view._plan_current(), timeout=120000)
    took = time.perf_counter() - started
    timer.stop()
    print(f"5000 characters: {len(view.plan.sentences)} sentences planned in {took:.2f} s "
          f"(plan {view.plan.took:.2f} s); longest pause of the event loop {max(gaps) * 1000:.0f} ms")
    assert view.plan.error is None and len(view.plan.sentences) > 40 and view.sentences.count == len(
        view.plan.sentences)
    assert len(gaps) > 5  # the window kept handling events while the text was planned

    view.text.setPlainText("x" * 20_001)
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)
    assert "too long" in view.plan_label.text() and view.sentences.count == 0


def test_round_trip_words_are_marked_and_a_clicked_word_shows_the_attention_around_it(qtbot) -> None:
    from studio.engine.clone.phonemes import text_to_ids
    from studio.engine.clone.result import Settings, Take
    from studio.engine.clone.roundtrip import compare
    from studio.ui.word_marks import KIND_COLORS, WordMarks, word_span

    assert word_span("ðə_kwɪk_fɑks.", 3, 1) == (3, 7)
    assert word_span("a_b_c_d", 2, 1) == (4, 7)  # two asked words over four phoneme words: half each
    assert word_span("tˈwɛnti_θɹi_dɔgz", 2, 0) == (0, 11)  # '23 dogs': the number read as two words

    text = "The quick brown fox jumps."
    ph = text_to_ids(text, "en")
    frames, n_prompt = 90, 10
    attention = np.zeros((2, frames, n_prompt + len(ph.ids)), np.float16)
    span = word_span(ph.phonemes, 5, 2)  # 'brown'
    attention[:, 30:40, n_prompt + span[0]:n_prompt + span[1]] = 0.5  # read around frames 30-40
    take = Take(0, text, ph.phonemes, ph.ids, n_prompt, np.zeros((8, frames), np.int16),
                np.zeros(frames * 320, np.float32), Settings(), "end", 1.0, "cpu", attention,
                round_trip=compare(text, "the quick quick fox jumps hello", prompt_text="Hello there"))
    marks = WordMarks()
    qtbot.addWidget(marks)
    marks.show_take(take)
    kinds = {m.kind for m in take.round_trip.marks}
    assert {"changed", "leaked"} <= kinds
    html = marks.marks_label.text()
    assert KIND_COLORS["changed"] in html and "brown→quick" in html and KIND_COLORS["leaked"] in html
    assert "word error rate" in marks.heard.text()
    brown = next(i for i, m in enumerate(take.round_trip.marks) if m.word == "brown")
    marks.marks_label.linkActivated.emit(f"mark:{brown}")  # a click on the word
    assert marks.selected == brown and marks.word_band.isVisible()
    assert marks.word_band.getRegion() == pytest.approx((n_prompt + span[0], n_prompt + span[1]))
    assert f"“{ph.phonemes[span[0]:span[1]]}”" in marks.focus_title.text()
    mass = marks.focus_curve.getData()[1]
    assert mass.argmax() in range(30, 40) and mass[:30].max() == 0  # where the model read the word


def test_the_speak_view_never_imports_torch_on_the_ui_thread() -> None:
    import subprocess
    import sys

    code = ("import sys; from studio.ui import speak_view, take_view, word_marks, sentence_list; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
