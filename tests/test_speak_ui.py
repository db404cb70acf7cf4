"""The Speak view of the Voice panel, driven as a user would (offscreen): a small random VALL-E and a random EnCodec
stand in for the downloads, the real VALL-E X preset librispeech_1 is the voice."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from studio.engine.clone.result import FRAME_RATE, SAMPLE_RATE

DATA = Path(__file__).parent / "data"
VOICE = DATA / "vallex-preset-librispeech_1.npz"
PROMPT_FRAMES = 225
TWO = "Hello there. How are you today?"



@pytest.fixture
def view(qtbot, settings):  # noqa: ANN001, ANN201
    import gc

    from studio.ui.gc_guard import GarbageCollector
    from studio.ui.speak_view import SpeakView
    from studio.worker.qt import QtWorker

    worker = QtWorker("cpu", mode="thread")  # FakeSpeech shares its events and counts with the test: no copies
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
    assert view.progress.value() == 1000 and view.device_label.text().startswith("Device: cpu (")

    # the grid: the prompt's frames, then the generated ones
    view.sentences.select(1)
    qtbot.waitUntil(lambda: not view.take_view.drawing, timeout=5000)
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
                attention_mean=attention.astype(np.float32).mean(axis=0),
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


# ---- the view's bookkeeping, with a stand-in for the synthesize job (the engine is tested in test_clone_engine) --
class FakeSpeech:
    """Replaces the view's job: each sentence becomes a short take at once; `hold` makes it wait after the first
    take of a job until released (or cancelled), `listen` waits in the listening back of the first sentence until
    cancelled and then hands over the take unchecked, as the engine does."""

    def __init__(self, hold: bool = False, listen: bool = False) -> None:
        import threading

        self.release = threading.Event()
        self.hold, self.listen = hold, listen
        self.calls: list[tuple[list[str], list[int]]] = []

    def __call__(self, ctx, voice, sentences, language, settings, *, first_index=0, seeds=None,  # noqa: ANN001, ANN204
                 **_kw):
        from dataclasses import replace

        from studio.engine.clone.result import RoundTrip, Take
        from studio.errors import JobCancelled

        used = [seeds[i] if seeds is not None else settings.seed + first_index + i for i in range(len(sentences))]
        self.calls.append((list(sentences), used))
        for i, text in enumerate(sentences):
            n = 30 + used[i] % 7
            take = Take(first_index + i, text, "a", [1], 0, np.full((8, n), used[i] % 1024, np.int16),
                        np.full(n * 320, 0.01, np.float32), replace(settings, seed=used[i]), "end", 0.01, "cpu", None,
                        mel=np.zeros((80, n * 320 // 240), np.float32),
                        round_trip=None if self.listen else RoundTrip(text, []))
            if self.listen and i == 0:
                ctx.progress(0.5, f"Sentence {first_index + 1}: listening back…")
                while not ctx.cancelled:
                    time.sleep(0.01)
                ctx.send(take)  # the take was made: it is handed over unchecked before the cancel
                raise JobCancelled()
            ctx.send(take)
            if self.hold and i == 0:
                while not self.release.is_set():
                    ctx.check()
                    time.sleep(0.01)
        return None


def fake_ready(qtbot, view, monkeypatch, text: str, fake: FakeSpeech) -> None:  # noqa: ANN001
    import studio.ui.speak_view as speak_view

    monkeypatch.setattr(speak_view, "SPEAK", fake)
    view.set_voice(str(VOICE))
    view.text.setPlainText(text)
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)


def test_a_sentence_said_twice_has_a_take_per_row_and_cancel_counts_rows(qtbot, view, monkeypatch) -> None:
    fake = FakeSpeech()
    fake_ready(qtbot, view, monkeypatch, "Yes. No. Yes.", fake)
    assert [s.text for s in view.plan.sentences] == ["Yes.", "No.", "Yes."]
    view.synthesize()
    qtbot.waitUntil(lambda: not view._runs, timeout=30000)
    takes = view.current_takes()
    assert [t.settings.seed for t in takes] == [1, 2, 3] and takes[0] is not takes[2]
    assert len(view.history.entries(view._key(0))) == len(view.history.entries(view._key(2))) == 1
    assert len(view.joined_samples()) == sum(len(t.samples) for t in takes) + 2 * int(0.25 * SAMPLE_RATE)
    assert view.progress_label.text() == "Done."

    # a sentence typed in above: the others' takes move down with them; an edited one gets none of theirs
    view.text.setPlainText("Hello. Yes. No. Yes.")
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)
    assert view.current_takes() == [None, *takes]
    view.text.setPlainText("Hello. Yes. No. Maybe.")
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)
    assert view.current_takes() == [None, takes[0], takes[1], None]

    # one word of 3000 letters: ten identical pieces, one spoken before Cancel
    hold = FakeSpeech(hold=True)
    fake_ready(qtbot, view, monkeypatch, "a" * 3000, hold)
    assert view.sentences.count == 10 and len({s.text for s in view.plan.sentences[:9]}) == 1  # the last is shorter
    view.synthesize()
    qtbot.waitUntil(lambda: view.current_takes()[0] is not None, timeout=30000)
    assert [view.sentences.row(i).state.text() for i in (1, 9)] == ["queued…", "queued…"]
    view.cancel()
    qtbot.waitUntil(lambda: not view._runs, timeout=30000)
    assert view.progress_label.text() == "Cancelled; 1 of 10 sentences spoken, kept."
    assert sum(t is not None for t in view.current_takes()) == 1
    assert view.sentences.row(1).state.text() == "not spoken yet"


def test_regenerate_during_a_run_draws_a_seed_no_take_of_the_row_has(qtbot, view, monkeypatch) -> None:
    fake = FakeSpeech(hold=True)
    fake_ready(qtbot, view, monkeypatch, "First one. Second one. Third one.", fake)
    view.synthesize()
    qtbot.waitUntil(lambda: view.current_takes()[0] is not None, timeout=30000)
    view.regenerate(2)  # the running job will draw row 3 with seed 1 + 2
    view.regenerate(0)  # row 1 has its take with seed 1 already
    assert len(view._runs) == 3
    fake.release.set()
    qtbot.waitUntil(lambda: not view._runs, timeout=30000)
    (_, run), (_, again2), (_, again0) = fake.calls
    assert run == [1, 2, 3] and again2[0] != 3 and again0[0] != 1
    seeds2 = [e.take.settings.seed for e in view.history.entries(view._key(2))]
    assert sorted(seeds2) == sorted([3, again2[0]])
    assert view.sentences.row(2).history_btn.text() == "History (2)"

    # Cancel stops the run and the redo queued behind it: the message counts the takes of both
    fake.release.clear()
    view.synthesize()
    qtbot.waitUntil(lambda: len(fake.calls) == 4, timeout=30000)
    view.regenerate(1)
    view.cancel()
    qtbot.waitUntil(lambda: not view._runs, timeout=30000)
    assert view.progress_label.text() == "Cancelled; 1 of 4 sentences spoken, kept."


def test_cancel_while_listening_back_keeps_the_take_unchecked(qtbot, view, monkeypatch) -> None:
    fake = FakeSpeech(listen=True)
    fake_ready(qtbot, view, monkeypatch, "Good morning. See you soon.", fake)
    view.synthesize()
    qtbot.waitUntil(lambda: "listening back" in view.progress_label.text(), timeout=30000)
    view.cancel()
    qtbot.waitUntil(lambda: not view._runs, timeout=30000)
    take = view.current_takes()[0]
    assert take is not None and take.round_trip is None and view.current_takes()[1] is None
    assert view.progress_label.text() == "Cancelled; 1 of 2 sentences spoken, kept."
    row = view.sentences.row(0)
    assert row.check.text() == "words not checked" and "seed 1" in row.state.text()
    view.sentences.select(0)
    qtbot.waitUntil(lambda: not view.take_view.drawing, timeout=5000)
    assert view.take_view.take is take and "not checked" in view.take_view.words.heard.text()
    fake.listen = False
    view.regenerate(0)  # a second take, checked: the history lists the first as not checked
    qtbot.waitUntil(lambda: not view._runs, timeout=30000)
    menu = row.history_btn.menu()
    menu.aboutToShow.emit()
    assert [a.text().rsplit(" · ", 1)[1] for a in menu.actions()] == ["✓ every word heard", "words not checked"]


def test_save_never_replaces_a_recording_or_a_voice(qtbot, view, monkeypatch, settings) -> None:
    fake_ready(qtbot, view, monkeypatch, "Hello there.", FakeSpeech())
    view.synthesize()
    qtbot.waitUntil(lambda: not view._runs, timeout=30000)
    recordings, voices = Path(settings.recordings_folder), Path(settings.voices_folder)
    for folder, what in ((recordings, "recording"), (voices, "voice")):
        folder.mkdir(parents=True, exist_ok=True)
        mine = folder / "mine.wav"
        mine.write_bytes(b"not to be replaced")
        view.save_to(str(mine))
        assert f"would replace a {what}" in view.errors[-1][0] and mine.read_bytes() == b"not to be replaced"
    view.save_to(str(recordings / "speech.wav"))  # a new file there is fine
    assert sf.info(str(recordings / "speech.wav")).samplerate == SAMPLE_RATE
    assert any("speech.wav" in s for s in view.statuses)


def test_plan_messages_go_when_the_text_changes(qtbot, view) -> None:
    from studio.ui.sentence_list import EMPTY_HINT

    view.set_voice(str(VOICE))
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)
    assert view.plan_label.text() == EMPTY_HINT and not view.plan_label.isEnabled()  # a hint, not an error
    view.synthesize()
    assert view.errors[-1][0] == "There is no text to speak."
    view.text.setPlainText("x" * 20_001)
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)
    assert view.errors[-1] == ("", "")  # the empty text's message went with it
    view.synthesize()
    assert "too long" in view.errors[-1][0]
    view.text.setPlainText("Short now.")
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)
    assert view.errors[-1] == ("", "") and view.plan_label.isEnabled() and "1 sentence" in view.plan_label.text()
    view.progress_label.setText("Cancelled; 0 of 2 sentences spoken.")
    view.text.setPlainText("Something else.")
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)
    assert view.progress_label.text() == ""


def test_chinese_text_in_english_shows_the_whole_message_and_remedy(qtbot, view) -> None:
    import html

    view.set_voice(str(VOICE))
    view.text.setPlainText("你好，世界。今天天气很好。")
    qtbot.waitUntil(lambda: view._plan_current(), timeout=30000)
    error = view.plan.error
    assert error is not None and error.remedy
    shown = html.unescape(view.plan_label.text())
    assert error.message in shown and error.remedy in shown and view.plan_label.wordWrap()
    view.synthesize()
    assert view.errors[-1] == (error.message, error.remedy)


def test_the_speak_view_fits_beside_the_voices_on_a_1366_screen(qtbot, view, monkeypatch) -> None:
    from studio.engine.clone.roundtrip import compare

    long = "Every one of these words was skipped by the model so the problem list is much longer than the row is."
    fake_ready(qtbot, view, monkeypatch, f"{long} See you soon. Yes.", FakeSpeech())
    view.synthesize()
    qtbot.waitUntil(lambda: not view._runs, timeout=30000)
    for i in range(2):
        take = view.current_takes()[i]
        view.history.add(view._key(i), replace_take(take, round_trip=compare(take.text, "", "")))
        view._refresh_row(i)
    view.device_label.show_device("cuda:0 (NVIDIA H100 80GB HBM3, 1.2 of 80 GB in use)")
    assert view.minimumSizeHint().width() <= 600  # was 858: the window came up 1408 wide
    view.resize(640, 640)
    qtbot.wait(50)
    rows = [view.sentences.row(i) for i in range(2)]
    assert not view.sentences.horizontalScrollBar().isVisible()
    assert all(r.width() <= view.sentences.viewport().width() for r in rows)
    assert "skipped" in rows[0].check.text() and "skipped ‘much’" in rows[0].check.toolTip()  # all in the tip
    lefts = {r.history_btn.mapTo(view, r.history_btn.rect().topLeft()).x() for r in rows}
    assert len(lefts) == 1 and all(r.history_btn.width() >= r.history_btn.sizeHint().width() for r in rows)
    assert view.sentences.height() >= 2 * rows[1].height()  # two one-line rows always show
    assert view.controls.heightForWidth(500) > view.controls.heightForWidth(2000)  # the settings wrap
    assert view.device_label.width() < view.device_label.sizeHint().width()
    assert "NVIDIA H100" in view.device_label.toolTip()


def replace_take(take, **changes):  # noqa: ANN001, ANN003, ANN201
    from dataclasses import replace

    return replace(take, **changes)


def test_the_take_grid_labels_every_other_codebook_when_short(qtbot) -> None:
    from studio.engine.clone.result import Settings, Take
    from studio.ui.take_view import TakeView

    tv = TakeView()
    qtbot.addWidget(tv)
    take = Take(0, "Hi.", "hi.", [1, 2, 3], 0, np.zeros((8, 40), np.int16), np.zeros(40 * 320, np.float32),
                Settings(), "end", 0.1, "cpu", None)
    tv.show_take(take, np.zeros((8, 30), np.int16), 1)
    qtbot.waitUntil(lambda: not tv.drawing, timeout=5000)
    tv.resize(700, 900)
    tv.show()
    qtbot.wait(50)
    tall = [label for _, label in tv.grid.getAxis("left")._tickLevels[0]]
    tv.resize(700, 380)
    qtbot.waitUntil(lambda: tv.grid.height() < 200, timeout=5000)
    qtbot.wait(50)
    short = [label for _, label in tv.grid.getAxis("left")._tickLevels[0]]
    assert tall == [str(i) for i in range(1, 9)] and short in (["1", "3", "5", "7"], ["1", "4", "7"])
    assert tv.spec.getAxis("left").labelText == "Hz"
