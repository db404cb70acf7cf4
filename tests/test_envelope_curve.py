"""The min/max envelope of the waveforms (record panel, takes, prompt check): one vertical segment per bucket."""

from __future__ import annotations

import numpy as np


def test_each_bucket_is_one_vertical_segment_from_low_to_high(qtbot):
    from studio.ui.widgets import WaveformPlot

    plot = WaveformPlot()
    qtbot.addWidget(plot)
    t = np.array([0.5, 1.5, 2.5])
    lo, hi = np.array([-0.2, -0.9, 0.0]), np.array([0.3, 0.8, 0.0])
    plot.show_envelope(t, lo, hi)
    xs, ys = plot.envelope.getData()
    assert np.array_equal(xs, [0.5, 0.5, 1.5, 1.5, 2.5, 2.5])  # x twice: each segment is vertical
    assert np.allclose(ys, [-0.2, 0.3, -0.9, 0.8, 0.0, 0.0])
    assert plot.envelope.opts["connect"] == "pairs"  # not joined from one bucket's top to the next one's bottom
    for got, want in zip(plot.envelope.bands(), (t, lo, hi), strict=True):
        assert np.allclose(got, want)
    plot.clear_envelope()
    assert all(len(a) == 0 for a in plot.envelope.bands())
