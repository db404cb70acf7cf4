"""The overlay is the decoder's real attention: a model built so that every cross-attention query looks at one
chosen patch draws its overlay's peak on that patch's pixels, for every token, layer and head, through the same
path as the panel (Captioner -> CaptionResult.patch_map -> overlay.blend) and the CLI's token sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.engine.caption.decoding import DecodeOptions
from studio.engine.caption.overlay import blend, heat, token_sheet

GRID = 4  # the small model: 64 px pictures in 16 px patches


def _looking_at(blip_folder: Path, patch: int) -> object:
    """The small BLIP made to look at `patch`: the vision tower passes through only position embeddings, the
    chosen patch's carrying a large component 0; every cross-attention key reads component 0 and every query is a
    constant, so each query's weight peaks on that patch."""
    from studio.engine.caption.caption import Captioner
    from studio.hub.blip_weights import load_blip

    model, folder = load_blip(blip_folder)
    sd = model.state_dict()
    with torch.no_grad():
        torch.manual_seed(1)
        for name, v in sd.items():
            if name.startswith(("vision_model.embeddings.patch_embedding", "vision_model.embeddings.class_")):
                v.zero_()
            if name.startswith("vision_model.encoder.layers.") and (".projection." in name or ".fc2." in name):
                v.zero_()  # the residual stream is the embeddings
        pos = sd["vision_model.embeddings.position_embedding"]
        pos.copy_(torch.randn_like(pos) * 0.01)
        pos[0, 1 + patch, 0] = 5.0
        for name, v in sd.items():
            if ".crossattention.self.key." in name:
                v.zero_()
                if name.endswith("weight"):
                    v[:, 0] = 1.0
            if ".crossattention.self.query." in name:
                v.zero_() if name.endswith("weight") else v.fill_(1.0)
    return Captioner(model, folder)


@pytest.mark.parametrize("patch", [0, 6, 15])
def test_the_overlay_peaks_on_the_patch_the_model_looks_at(blip_folder: Path, patch: int) -> None:
    captioner = _looking_at(blip_folder, patch)
    picture = Image.new("RGB", (320, 240), (128, 128, 128))
    r = captioner.caption(picture, "", DecodeOptions(max_new_tokens=4, min_new_tokens=4))
    att = r.cross_attention
    assert att.shape == (2, 4, 4, 1 + GRID * GRID)
    assert (att[..., 1 + patch] > 0.9).all()  # every layer, head and token looks there
    row, col = divmod(patch, GRID)
    rgb = np.asarray(picture)
    for token in range(len(r.tokens)):
        m = r.patch_map(token)
        assert np.unravel_index(m.argmax(), m.shape) == (row, col)
        w = heat(m, (320, 240))
        y, x = np.unravel_index(w.argmax(), w.shape)
        assert row * 60 <= y < (row + 1) * 60 and col * 80 <= x < (col + 1) * 80  # that patch's pixels
        change = np.abs(blend(rgb, m).astype(int) - rgb).sum(-1)
        inside = change[row * 60:(row + 1) * 60, col * 80:(col + 1) * 80].mean()
        assert inside > 2 * change.mean() and inside > 40  # coloured there, not elsewhere
    sheet = token_sheet(rgb, [r.patch_map(i) for i in range(len(r.tokens))], r.pieces)
    assert sheet.shape[0] > 0  # the CLI's sheet draws the same maps
