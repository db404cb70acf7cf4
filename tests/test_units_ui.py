"""The units strip under the spectrogram, driven as a user would (offscreen) on jfk.flac: a random HuBERT of the
base layout saved by transformers stands in for the download (picked as a local folder in the model list)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PySide6.QtCore import QPointF, Qt


@pytest.fixture(scope="module")
def hubert_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import transformers

    folder = tmp_path_factory.mktemp("hubert-ui")
    torch.manual_seed(0)
    cfg = transformers.HubertConfig(num_hidden_layers=6, hidden_size=384, num_attention_heads=6,
                                    intermediate_size=1536)
    transformers.HubertModel(cfg).eval().save_pretrained(folder)
    return folder


def _use_local(view, folder: Path) -> None:  # noqa: ANN001
    view.model.insertItem(0, "test HuBERT", str(folder))
    view.model.setCurrentIndex(0)


def _jfk_units(qtbot, window, panel, folder: Path, data: Path):  # noqa: ANN001, ANN202
    """`panel` in view, the test model picked, k = 50, jfk.flac open and its units computed: the panel's view."""
    window.stack.setCurrentWidget(panel)
    view = panel.units
    _use_local(view, folder)
    view.k.setCurrentIndex(0)
    panel.open_file(str(data / "jfk.flac"))
    view.compute()
    qtbot.waitUntil(lambda: view.analysis is not None, timeout=120000)
    return view


def _click_strip(qtbot, strip, seconds: float) -> None:  # noqa: ANN001
    """A click on the strip at `seconds` (its middle row)."""
    vb = strip.plotItem.vb
    scene = vb.mapViewToScene(QPointF(seconds, 0.5))
    pos = strip.mapFromScene(scene)
    qtbot.mouseClick(strip.viewport(), Qt.LeftButton, pos=pos)


def test_units_under_the_spectrogram_hover_click_play_and_save(qtbot, window, data, tmp_path, hubert_folder) -> None:
    panel = window.spectrogram
    window.stack.setCurrentWidget(panel)
    view = panel.units
    _use_local(view, hubert_folder)
    view.k.setCurrentIndex(0)  # k = 50
    panel.open_file(str(data / "jfk.flac"))
    qtbot.mouseClick(view.compute_btn, Qt.LeftButton)
    assert not view.compute_btn.isEnabled()
    qtbot.waitUntil(lambda: view.analysis is not None, timeout=120000)
    r = view.analysis.result
    assert r.units.shape == (549,) and r.k == 50 and view.analysis.fitted_here
    assert "layer 6, k = 50" in view.info.text() and "549 frames" in view.info.text()
    # one time axis: the strip follows the spectrogram's zoom; boundaries appear when zoomed in
    panel.plot.setXRange(2.0, 4.0, padding=0)
    qtbot.wait(50)
    x0, x1 = view.strip.plotItem.vb.viewRange()[0]
    assert abs(x0 - 2.0) < 0.05 and abs(x1 - 4.0) < 0.05
    xs, _ = view.strip.boundaries.getData()
    assert xs is not None and len(xs) > 0 and np.all((xs >= 2.0) & (xs <= 4.0))
    # hover text names the unit and its run
    text = view.strip.describe(3.0)
    run = r.run_at(150)
    a, b = run.first_frame / 50, (run.first_frame + run.frames) / 50
    assert text.startswith(f"unit {run.unit} at 0:03.0 · this run {a:.2f}–{b:.2f} s ({run.frames} frame")
    # a click plays that run; then all its occurrences, from a file of their own
    played = []
    panel.player.play = lambda path, start=0.0, end=None: played.append((str(path), start, end))
    _click_strip(qtbot, view.strip, 3.0)
    assert played and played[-1][0] == str(data / "jfk.flac")
    assert played[-1][1] == pytest.approx(run.first_frame / 50) and played[-1][2] == pytest.approx(
        (run.first_frame + run.frames) / 50)
    assert view.play_unit_btn.isEnabled() and view.play_unit_btn.text() == f"▶ All of unit {run.unit}"
    qtbot.mouseClick(view.play_unit_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: played[-1][0].endswith(f"unit-{run.unit}.wav"), timeout=30000)
    audio, rate = sf.read(played[-1][0])
    spans = r.occurrences(run.unit)
    expected = sum(b - a for a, b in spans) + 0.15 * len(spans)
    assert rate == 44100 and abs(len(audio) / rate - expected) < 0.01 * len(spans) + 0.01
    # the codebook saved from the panel gives the same units to the CLI's engine
    view.save_codebook(str(tmp_path / "jfk-units"))
    assert (tmp_path / "jfk-units.npy").exists() and (tmp_path / "jfk-units.json").exists()
    view.use_codebook(str(tmp_path / "jfk-units.npy"))
    view.analysis = None
    qtbot.mouseClick(view.compute_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.analysis is not None, timeout=120000)
    assert not view.analysis.fitted_here and np.array_equal(view.analysis.result.units, r.units)
    assert "from the saved codebook" in view.info.text() and not view.save_btn.isEnabled()
    if os.environ.get("STUDIO_SHOTS"):  # look at it: STUDIO_SHOTS=DIR pytest tests/test_units_ui.py
        panel.plot.setXRange(0, 11, padding=0)
        qtbot.wait(300)
        window.grab().save(str(Path(os.environ["STUDIO_SHOTS"]) / "units-strip.png"))
    # another file clears the strip: its units are not computed yet
    panel.open_file(str(data / "vallex-en-1.wav"))
    assert view.analysis is None and view.strip.result is None and not view.play_unit_btn.isEnabled()


def test_compare_two_takes(qtbot, window, data, tmp_path, hubert_folder) -> None:
    """The same file: every frame agrees. A second take (here: jfk with half a second of noise in front and its
    second half louder) is drawn on the first's axis; clicking it plays the second take's own audio."""
    panel = window.spectrogram
    view = _jfk_units(qtbot, window, panel, hubert_folder, data)
    assert view.compare_btn.isEnabled() and view.other.isHidden()
    view.compare_with(str(data / "jfk.flac"))
    qtbot.waitUntil(lambda: view.comparison is not None, timeout=120000)
    assert view.comparison.agreement == 1.0 and view.comparison.differing == []
    assert not view.other.isHidden() and "100% of aligned frames share a unit" in view.info.text()
    audio, rate = sf.read(data / "jfk.flac")
    take = np.concatenate([np.random.default_rng(0).normal(0, 0.01, (rate // 2, 2)), audio])
    take[len(take) // 2:] *= 1.8
    other = tmp_path / "take2.wav"
    sf.write(other, take, rate)
    view.compare_with(str(other))
    qtbot.waitUntil(lambda: view.comparison is not None and view.comparison.other.source == str(other),
                    timeout=120000)
    cmp = view.comparison
    assert cmp.other.result.units.size == 574 and len(cmp.b_at_a) == 549
    assert 0.0 < cmp.agreement < 1.0 and "share a unit" in view.info.text()
    assert np.all(np.diff(cmp.b_at_a) >= 0)  # the warp runs forward in time
    assert len(view.strip._marks) == len(cmp.differing) == len(view.other._marks)
    if os.environ.get("STUDIO_SHOTS"):
        qtbot.wait(300)
        window.grab().save(str(Path(os.environ["STUDIO_SHOTS"]) / "units-compare.png"))
    played = []
    panel.player.play = lambda path, start=0.0, end=None: played.append((str(path), start, end))
    _click_strip(qtbot, view.other, 5.0)
    assert played and played[-1][0] == str(other) and played[-1][1] < played[-1][2]
    panel.open_file(str(data / "vallex-en-1.wav"))  # another file: the comparison goes with the units
    assert view.comparison is None and view.other.isHidden() and not view.compare_btn.isEnabled()


def test_units_errors_reach_the_banner(qtbot, window, data, tmp_path, hubert_folder) -> None:
    panel = window.spectrogram
    view = panel.units
    errors = []
    panel.error.connect(lambda m, r: errors.append(m))
    view.compute()  # nothing open
    assert errors and "open a recording first" in errors[-1]
    _use_local(view, hubert_folder)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(200, np.float32), 16000)
    panel.open_file(str(short))
    view.compute()
    qtbot.waitUntil(lambda: len(errors) >= 2, timeout=60000)
    assert "shorter than one frame" in errors[-1] and view.compute_btn.isEnabled()
    panel.open_file(str(data / "vallex-zh-1.wav"))  # 2 s: 99 frames, fewer than k = 100
    view.compute()
    qtbot.waitUntil(lambda: len(errors) >= 3, timeout=60000)
    assert "fewer than the 100 units" in errors[-1]
    view.layer.setValue(9)  # the test model has 6 layers
    view.k.setCurrentIndex(0)
    panel.open_file(str(data / "jfk.flac"))
    view.compute()
    qtbot.waitUntil(lambda: len(errors) >= 4, timeout=60000)
    assert "layer 9 does not exist" in errors[-1]


def test_units_strip_in_the_codec_panel_above_the_grid(qtbot, window, data, hubert_folder) -> None:
    """The same units view sits between the Codec panel's spectrogram and its token grid, on their time axis; a
    code file (no audio) has no units."""
    panel = window.codec
    view = _jfk_units(qtbot, window, panel, hubert_folder, data)
    assert view.analysis.result.units.shape == (549,)
    panel.spec.setXRange(1.0, 2.5, padding=0)
    qtbot.wait(50)
    (x0, x1), (g0, g1) = view.strip.plotItem.vb.viewRange()[0], panel.grid.plotItem.vb.viewRange()[0]
    assert abs(x0 - 1.0) < 0.05 and abs(x1 - 2.5) < 0.05 and abs(g0 - x0) < 1e-6 and abs(g1 - x1) < 1e-6
    split = view.parentWidget()
    order = [split.widget(i) for i in range(split.count())]
    assert order.index(panel.spec) < order.index(view) < order.index(panel.grid)
    errors = []
    panel.error.connect(lambda m, r: errors.append(m) if m else None)
    panel.open_file(str(data / "vallex-preset-librispeech_1.npz"))
    assert view.analysis is None and not view.compute_btn.isEnabled() and "this file has none" in view.info.text()
    assert not view.words_box.isEnabled()  # nothing to transcribe either
    view.compute()  # even if asked (a shortcut, a script): a message, not a job
    assert errors and "open a recording first" in errors[-1]


def test_statistics_window(qtbot, window, data, hubert_folder) -> None:
    """Frames per unit and mean spectra; purity against tiny.en's words; a click on a bar plays every run of it."""
    panel = window.spectrogram
    view = _jfk_units(qtbot, window, panel, hubert_folder, data)
    qtbot.mouseClick(view.stats_btn, Qt.LeftButton)
    dialog = view.stats_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.stats is not None, timeout=60000)
    hist = dialog.stats.histogram
    assert hist.sum() == 549 and hist.size == 50 and dialog.stats.purity is None
    heights = dialog.bars.opts["height"]
    assert np.array_equal(np.asarray(heights), hist)
    used = int(np.flatnonzero(hist)[0])
    assert dialog.describe(used).startswith(f"unit {used}: {hist[used]} frames")
    dialog.words.setChecked(True)  # transcribes with the built-in model for word times
    qtbot.waitUntil(lambda: dialog.stats is not None and dialog.stats.purity is not None, timeout=120000)
    assert dialog.stats.purity.words == 14 and "Purity against the words" in dialog.summary.text()
    if os.environ.get("STUDIO_SHOTS"):
        qtbot.wait(200)
        dialog.grab().save(str(Path(os.environ["STUDIO_SHOTS"]) / "units-stats.png"))
    played = []
    panel.player.play = lambda path, start=0.0, end=None: played.append(str(path))
    vb = dialog.bars_plot.plotItem.vb
    pos = dialog.bars_plot.mapFromScene(vb.mapViewToScene(QPointF(used, hist[used] / 2)))
    qtbot.mouseClick(dialog.bars_plot.viewport(), Qt.LeftButton, pos=pos)
    assert view.picked_unit == used
    qtbot.waitUntil(lambda: bool(played) and played[-1].endswith(f"unit-{used}.wav"), timeout=30000)
    panel.open_file(str(data / "vallex-en-1.wav"))  # another file: the window's numbers would be stale
    assert not dialog.isVisible() and not view.stats_btn.isEnabled()


def test_an_hour_of_units_paints_at_every_zoom(qtbot, capfd) -> None:
    """180,000 frames: pyqtgraph downsamples the strip's image; drawing it must not fail (a failure inside paint
    is only printed by pyqtgraph, so its output is read)."""
    from studio.engine.units.result import UnitsResult
    from studio.ui.units_strip import UnitsStrip

    u = np.repeat(np.random.default_rng(0).integers(0, 100, 60_000), 3).astype(np.int32)
    strip = UnitsStrip()
    qtbot.addWidget(strip)
    strip.resize(1200, 64)
    strip.show()
    strip.set_result(UnitsResult(u, 50.0, 100, "m", 6, u.size / 50))
    for x0, x1 in ((0, 3600), (100, 110), (0, 600)):
        strip.plotItem.vb.setXRange(x0, x1, padding=0)
        strip.grab()
    assert strip.describe(105.0).startswith("unit ")
    xs, _ = strip.boundaries.getData()
    assert xs is not None and len(xs) == 0  # the last range spans 600 s: no boundaries drawn
    _, err = capfd.readouterr()
    assert "Error calling Python override" not in err and "Ignored exception" not in err


def test_codebook_picker_and_banner(qtbot, window, data, tmp_path, hubert_folder) -> None:
    """From the user test: a codebook that cannot be read is said at once and not offered; NAME.npy and NAME.json
    are one entry; the codebook's k and layer are shown and locked; a success clears an earlier failure's banner;
    the clicked run stays marked."""
    panel = window.spectrogram
    view = _jfk_units(qtbot, window, panel, hubert_folder, data)
    view.save_codebook(str(tmp_path / "cb"))
    (tmp_path / "junk.npy").write_bytes(b"junk")
    entries = view.codebook.count()
    view.use_codebook(str(tmp_path / "junk.npy"))
    assert window.banner.isVisible() and "junk" in window.banner.text and view.codebook.count() == entries
    assert view.codebook_path is None and view.codebook.currentIndex() == 0
    view.k.setCurrentIndex(2)  # 200: the codebook's 50 must win and show
    view.use_codebook(str(tmp_path / "cb.json"))
    view.use_codebook(str(tmp_path / "cb.npy"))
    assert view.codebook.count() == entries + 1 and view.codebook_path == str(tmp_path / "cb.npy")
    assert view.k.currentData() == 50 and not view.k.isEnabled() and not view.layer.isEnabled()
    assert view.model.currentText() == "test HuBERT" and not view.model.isEnabled()  # the codebook's model
    view.compute()
    qtbot.waitUntil(lambda: view.analysis is not None and not view.analysis.fitted_here, timeout=120000)
    assert not window.banner.isVisible()  # the earlier failure's message went with this success
    view.use_codebook(None)
    assert view.k.isEnabled() and view.layer.isEnabled() and view.model.isEnabled()
    _click_strip(qtbot, view.strip, 4.0)
    assert view.strip.picked.isVisible() and view.strip.picked.getRegion()[0] <= 4.0 <= view.strip.picked.getRegion()[1]


def test_words_under_the_units(qtbot, window, data, hubert_folder) -> None:
    """Words: tiny.en's words with their times on the strip's time axis; a hover lists the units inside a word, a
    click plays the word; the statistics reuse them; another file gets its own."""
    panel = window.spectrogram
    view = _jfk_units(qtbot, window, panel, hubert_folder, data)
    assert not view.lane.isVisible()
    qtbot.mouseClick(view.words_box, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.lane.isVisible(), timeout=120000)
    words = view.lane.words
    texts = " ".join(t.lower() for t, _, _ in words)
    assert "ask not what your country can do for you" in texts.replace(",", "").replace(".", "")
    starts = [a for _, a, _ in words]
    assert starts == sorted(starts) and all(0 <= a < b <= 11.1 for _, a, b in words)
    text, a, b = next(w for w in words if w[0].strip(",.").lower() == "country")
    r = view.analysis.result
    inside = r.units[round(a * 50):round(b * 50)]
    runs = [int(u) for i, u in enumerate(inside) if i == 0 or u != inside[i - 1]]
    assert view.lane.describe((a + b) / 2) == f"“{text}” {a:.2f}–{b:.2f} s · units {' '.join(map(str, runs))} · " \
                                              "click to hear it"
    # labels where they fit: some at the whole file, every word in view once zoomed in
    panel.plot.setXRange(0, 11, padding=0)
    qtbot.wait(50)
    shown = [item for item in view.lane._labels if item.isVisible()]
    assert 0 < len(shown) <= len(words)
    panel.plot.setXRange(a - 0.2, b + 0.2, padding=0)
    qtbot.wait(50)
    assert text in [item.textItem.toPlainText() for item in view.lane._labels if item.isVisible()]
    x0, x1 = view.lane.plotItem.vb.viewRange()[0]
    assert abs(x0 - (a - 0.2)) < 0.05 and abs(x1 - (b + 0.2)) < 0.05  # one time axis
    if os.environ.get("STUDIO_SHOTS"):
        panel.plot.setXRange(0, 11, padding=0)
        qtbot.wait(300)
        window.grab().save(str(Path(os.environ["STUDIO_SHOTS"]) / "units-words.png"))
        panel.plot.setXRange(a - 0.2, b + 0.2, padding=0)
    # a click on the word plays it
    played = []
    panel.player.play = lambda path, start=0.0, end=None: played.append((start, end))
    vb = view.lane.plotItem.vb
    qtbot.mouseClick(view.lane.viewport(), Qt.LeftButton,
                     pos=view.lane.mapFromScene(vb.mapViewToScene(QPointF((a + b) / 2, 0.5))))
    assert played == [(pytest.approx(a), pytest.approx(b))]
    # the statistics take the lane's words (no second transcription)
    view.show_stats()
    assert view.stats_dialog._words is view.words[1]
    view.stats_dialog.close()
    # another file: the lane waits for that file's words; unticked, it goes
    panel.open_file(str(data / "vallex-en-1.wav"))
    assert not view.lane.isVisible()
    qtbot.waitUntil(lambda: view.lane.isVisible() and view.words[0] == str(data / "vallex-en-1.wav"),
                    timeout=120000)
    view.words_box.setChecked(False)
    assert not view.lane.isVisible()
    # unticked while a transcription runs: it is cancelled, and nothing shows up later
    panel.open_file(str(data / "jfk.flac"))
    view.words = None
    view.words_box.setChecked(True)
    assert view._words_job
    view.words_box.setChecked(False)
    assert view._words_job == 0
    qtbot.wait(1500)
    assert not view.lane.isVisible() and view.words is None
    # purity without any word heard says so
    view.words_box.setChecked(False)
    view.compute()
    qtbot.waitUntil(lambda: view.analysis is not None, timeout=120000)
    view.show_stats()
    dialog = view.stats_dialog
    dialog.words.setChecked(True)
    dialog.show_for(view.analysis, [])
    qtbot.waitUntil(lambda: dialog.stats is not None and dialog.stats.purity is not None, timeout=60000)
    assert "no words were heard" in dialog.summary.text()
    dialog.close()
