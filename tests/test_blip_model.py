"""The BLIP captioner against transformers' BlipForConditionalGeneration on one shared random state dict (issue
12, first part: the model). Small configs with the real structure (the text decoder narrower than the vision
encoder, as in the large checkpoint, so cross-attention keys project between widths)."""

from __future__ import annotations

import pytest
import torch

from studio.models.blip import Blip, BlipConfig, BlipTextConfig, BlipVisionConfig, greedy_caption

transformers = pytest.importorskip("transformers")

VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, image_size=64,
              patch_size=16)
TEXT = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, vocab_size=120,
            encoder_hidden_size=64, bos_token_id=100, sep_token_id=102, pad_token_id=0)


@pytest.fixture(scope="module")
def pair() -> tuple[object, Blip]:
    from transformers import BlipConfig as HFConfig
    from transformers import BlipForConditionalGeneration

    torch.manual_seed(0)
    hf = BlipForConditionalGeneration(HFConfig(vision_config=VISION, text_config=TEXT)).eval()
    with torch.no_grad():  # transformers' init leaves the vision output nearly constant: redraw it so images differ
        for name, p in hf.vision_model.named_parameters():
            if "norm" not in name:
                p.normal_(0.0, 0.2)
    ours = Blip(BlipConfig(BlipVisionConfig(**VISION), BlipTextConfig(**TEXT))).eval()
    ours.load_state_dict(hf.state_dict(), strict=True)  # the checkpoint's names: no renaming
    return hf, ours


def test_same_keys_and_shapes_as_transformers(pair: tuple[object, Blip]) -> None:
    hf, ours = pair
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in hf.state_dict().items()}


def test_vision_logits_and_cross_attention_equal_transformers(pair: tuple[object, Blip]) -> None:
    hf, ours = pair
    torch.manual_seed(1)
    pixels = torch.randn(1, 3, 64, 64)
    ids = torch.tensor([[100, 5, 7, 9, 11]])
    with torch.no_grad():
        image_hf = hf.vision_model(pixel_values=pixels)[0]
        image = ours.encode(pixels)
        torch.testing.assert_close(image, image_hf, atol=1e-4, rtol=1e-4)
        other = ours.encode(torch.randn(1, 3, 64, 64))
        assert float((other - image).abs().max()) > 0.1  # the encoder sees the image
        ref = hf.text_decoder(input_ids=ids, encoder_hidden_states=image_hf, output_attentions=True)
        capture: list[list[torch.Tensor]] = [[] for _ in range(2)]
        logits = ours.text_decoder(ids, image, capture=capture)
        torch.testing.assert_close(logits, ref.logits, atol=1e-4, rtol=1e-4)
        for layer in range(2):
            torch.testing.assert_close(capture[layer][0], ref.cross_attentions[layer], atol=1e-5, rtol=1e-5)
        cache: dict = {}
        steps = torch.cat([ours.text_decoder(ids[:, i:i + 1], image, cache) for i in range(ids.shape[1])], 1)
        torch.testing.assert_close(steps, logits, atol=1e-5, rtol=1e-5)  # the KV cache changes nothing


@pytest.mark.parametrize("prompt", [[100], [100, 5, 7]])
def test_greedy_caption_equals_generate(pair: tuple[object, Blip], prompt: list[int]) -> None:
    hf, ours = pair
    torch.manual_seed(2)
    pixels = torch.randn(1, 3, 64, 64)
    # transformers takes the tokenizer's output: [CLS] prompt [SEP]; it makes [CLS] the begin token, drops [SEP]
    ref = hf.generate(pixel_values=pixels, input_ids=torch.tensor([prompt + [TEXT["sep_token_id"]]]))[0].tolist()
    got = greedy_caption(ours, pixels, prompt, capture=True)
    assert prompt + got.tokens == ref
    assert got.cross_attention is not None and len(got.cross_attention) == len(got.tokens)
    assert got.cross_attention[0].shape == (2, 4, 1 + (64 // 16) ** 2)


def test_a_hugging_face_folder_loads_and_captions_the_same(pair: tuple[object, Blip], tmp_path) -> None:  # noqa: ANN001
    from studio.hub.blip_weights import load_blip

    hf, _ = pair
    hf.save_pretrained(tmp_path / "blip")
    model, folder = load_blip(tmp_path / "blip")
    assert folder == tmp_path / "blip" and model.cfg.text.encoder_hidden_size == 64
    torch.manual_seed(3)
    pixels = torch.randn(1, 3, 64, 64)
    ref = hf.generate(pixel_values=pixels, input_ids=torch.tensor([[100, 102]]))[0].tolist()
    assert [100] + greedy_caption(model, pixels, [100]).tokens == ref


def test_missing_or_foreign_weights_are_messages(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from studio.hub.blip_weights import load_blip
    from studio.hub.ctranslate2 import CheckpointError
    from studio.hub.download import WeightsMissingError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsMissingError, match="Salesforce/blip-image-captioning-base"):
        load_blip("base", cache_dir=tmp_path / "cache")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "whisper"}')
    with pytest.raises(CheckpointError, match="not BLIP"):
        load_blip(tmp_path / "other")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_blip(tmp_path / "nothing")
