""""Import local weights…": each accepted kind (tiny random-init models saved in each format) is checked on the
worker, copied into the cache and added to and selected in the picker that uses it; a junk file is a message and
adds nothing; the source is never modified."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from studio.hub.ctranslate2 import CheckpointError
from studio.hub.local_import import IMPORT_DIR, import_weights, imported_models
from studio.hub.whisper_weights import bundled_folder, hf_name_map, load_whisper
from studio.models.encodec import ENCODEC_24KHZ, Encodec
from studio.models.whisper import Whisper, WhisperDims

DIMS = WhisperDims(n_mels=80, n_audio_ctx=16, n_audio_state=32, n_audio_head=2, n_audio_layer=1, n_vocab=51864,
                   n_text_ctx=16, n_text_state=32, n_text_head=2, n_text_layer=1)


def _tree_sha(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted([path] if path.is_file() else path.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def sources(tmp_path_factory, blip_folder: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    whisper = Whisper(DIMS)
    for p in whisper.parameters():
        torch.nn.init.normal_(p, std=0.05)
    state = {k: v.detach().clone() for k, v in whisper.state_dict().items()}
    out = {"openai": d / "tiny-random.pt"}
    torch.save({"dims": DIMS.to_dict(), "model_state_dict": state}, out["openai"])
    names = hf_name_map(DIMS)
    hf_state = {names[k]: v.contiguous() for k, v in state.items() if k in names}
    config = {"model_type": "whisper", "num_mel_bins": 80, "max_source_positions": 16, "d_model": 32,
              "encoder_attention_heads": 2, "encoder_layers": 1, "vocab_size": 51864, "max_target_positions": 16,
              "decoder_attention_heads": 2, "decoder_layers": 1}
    for key, weights in (("hf", "model.safetensors"), ("hf-bin", "pytorch_model.bin")):
        folder = d / f"whisper-{key}"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
        if weights.endswith(".safetensors"):
            save_file(hf_state, str(folder / weights))
        else:
            torch.save(hf_state, folder / weights)
        out[key] = folder
    out["ct2"] = d / "faster-whisper-tiny.en"
    shutil.copytree(bundled_folder(), out["ct2"])  # the built-in model is a CTranslate2 folder
    codec = Encodec(ENCODEC_24KHZ).state_dict()
    out["encodec-hf"] = d / "encodec_hf"
    out["encodec-hf"].mkdir()
    save_file({(k.replace(".embed", ".codebook.embed") if k.startswith("quantizer.") else k): v.contiguous()
               for k, v in codec.items()}, str(out["encodec-hf"] / "model.safetensors"))
    (out["encodec-hf"] / "config.json").write_text(json.dumps({
        "model_type": "encodec", "sampling_rate": 24000, "audio_channels": 1,
        "target_bandwidths": [1.5, 3.0, 6.0, 12.0, 24.0]}))
    encodec = pytest.importorskip("encodec")
    out["th"] = d / "encodec_24khz-random.th"  # the release layout, from the encodec package's own module
    torch.save(encodec.EncodecModel.encodec_model_24khz(pretrained=False).state_dict(), out["th"])
    out["blip"] = d / "blip-captioner"
    shutil.copytree(blip_folder, out["blip"])
    out["blip-no-tokenizer"] = d / "blip-half"
    shutil.copytree(blip_folder, out["blip-no-tokenizer"], ignore=shutil.ignore_patterns("tokenizer.json"))
    import torchaudio
    import transformers

    out["hubert-hf"] = d / "hubert-small"
    transformers.HubertModel(transformers.HubertConfig(
        num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128,
        num_conv_pos_embedding_groups=4)).save_pretrained(out["hubert-hf"])
    out["hubert-pth"] = d / "wav2vec2-small.pth"  # torchaudio's layout, no config: read off the shapes
    torch.save(torchaudio.models.wav2vec2_model(
        "group_norm", None, False, encoder_embed_dim=64, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=128,
        encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=1, encoder_attention_dropout=0.0,
        encoder_ff_interm_features=128, encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
        encoder_layer_norm_first=False, encoder_layer_drop=0.0, aux_num_out=None).state_dict(), out["hubert-pth"])
    out["junk"] = d / "notes.pt"
    out["junk"].write_bytes(np.random.default_rng(0).bytes(4000))
    out["bert"] = d / "bert"
    out["bert"].mkdir()
    (out["bert"] / "config.json").write_text('{"model_type": "bert"}')
    return out


KINDS = {"openai": ("whisper", "openai"), "hf": ("whisper", "hf"), "hf-bin": ("whisper", "hf"),
         "ct2": ("whisper", "ct2"), "encodec-hf": ("encodec", "hf"), "th": ("encodec", "th"),
         "blip": ("blip", "hf"), "hubert-hf": ("hubert", "hf"), "hubert-pth": ("hubert", "pth")}


@pytest.mark.parametrize("key", list(KINDS))
def test_each_kind_is_checked_copied_and_listed(sources, tmp_path: Path, key: str):
    source = sources[key]
    before = _tree_sha(source)
    model = import_weights(source, tmp_path)
    assert (model.kind, model.format) == KINDS[key]
    assert Path(model.path).is_relative_to(tmp_path / IMPORT_DIR / model.kind) and Path(model.path).exists()
    assert imported_models(tmp_path) == [model]
    assert _tree_sha(source) == before  # the user's file is only read
    if model.kind == "whisper" and model.format != "ct2":
        loaded = load_whisper(model.path).model
        assert torch.equal(loaded.state_dict()["decoder.ln.weight"],
                           load_whisper(source).model.state_dict()["decoder.ln.weight"])
    if model.kind == "blip":  # the copy captions: config, weights, tokenizer and preprocessing all came along
        from studio.engine.caption.caption import Captioner
        from studio.hub.blip_weights import load_blip

        net, folder = load_blip(model.path)
        assert Captioner(net, folder).caption(Image.new("RGB", (50, 30), "red")).tokens
    again = import_weights(source, tmp_path)  # a second import gets its own name, the first stays
    assert again.name == f"{model.name}-2" and len(imported_models(tmp_path)) == 2


def test_a_blip_folder_without_its_tokenizer_is_a_message(sources, tmp_path: Path):
    from studio.errors import StudioError

    with pytest.raises(StudioError, match="tokenizer"):
        import_weights(sources["blip-no-tokenizer"], tmp_path)
    assert imported_models(tmp_path) == []


@pytest.mark.parametrize("key", ["junk", "bert"])
def test_a_file_that_is_no_model_we_know_is_a_message_and_adds_nothing(sources, tmp_path: Path, key: str):
    with pytest.raises(CheckpointError) as err:
        import_weights(sources[key], tmp_path)
    assert "Voice Studio imports an openai-whisper .pt" in err.value.message
    assert imported_models(tmp_path) == []
    assert not (tmp_path / IMPORT_DIR).exists() or not any((tmp_path / IMPORT_DIR).rglob("*.json"))


def _import_in_window(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.worker.finished, timeout=60000, raising=False):
        window.weights.import_path(str(path))
    qtbot.waitUntil(lambda: not window.weights.busy, timeout=60000)


def test_imports_appear_and_are_selected_in_the_pickers(qtbot, window, sources, tmp_path: Path, monkeypatch):
    window.settings.cache_folder = str(tmp_path / "cache")
    transcribe, codec = window.transcribe.model, window.codec.model
    n_transcribe, n_codec = transcribe.count(), codec.count()
    _import_in_window(qtbot, window, sources["openai"])  # as from File > Import local weights…
    assert transcribe.count() == n_transcribe + 1 and transcribe.currentText() == "tiny-random (imported)"
    assert Path(transcribe.currentData()).name == "tiny-random.pt" and codec.count() == n_codec
    # the picker's own entry opens the dialog (here answered with the EnCodec .th)
    import studio.ui.import_weights as iw

    monkeypatch.setattr(iw, "pick_weights", lambda parent: str(sources["th"]))
    before = codec.currentIndex()
    codec.setCurrentIndex(codec.findData(iw.IMPORT_KEY))
    assert codec.currentIndex() == before  # the entry itself is never the choice
    qtbot.waitUntil(lambda: codec.currentText() == "encodec_24khz-random (imported)", timeout=60000)
    assert transcribe.count() == n_transcribe + 1  # an EnCodec model does not join the Whisper picker
    monkeypatch.setattr(iw, "pick_weights", lambda parent: str(sources["junk"]))
    transcribe.setCurrentIndex(transcribe.findData(iw.IMPORT_KEY))
    qtbot.waitUntil(lambda: "notes.pt" in window.banner.text, timeout=60000)
    assert "Unexpected" not in window.banner.text and "expected an openai-whisper" in window.banner.text
    assert transcribe.count() == n_transcribe + 1 and codec.count() == n_codec + 1
    assert transcribe.currentText() == "tiny-random (imported)"
    caption = window.caption.model  # a BLIP folder, picked as its config.json, joins the Caption picker only
    monkeypatch.setattr(iw, "pick_weights", lambda parent: str(sources["blip"] / "config.json"))
    caption.setCurrentIndex(caption.findData(iw.IMPORT_KEY))
    qtbot.waitUntil(lambda: caption.currentText() == "blip-captioner (imported)", timeout=60000)
    assert transcribe.count() == n_transcribe + 1 and codec.count() == n_codec + 1
    units = window.spectrogram.units.model  # a HuBERT folder joins the units picker only
    monkeypatch.setattr(iw, "pick_weights", lambda parent: str(sources["hubert-hf"] / "model.safetensors"))
    units.setCurrentIndex(units.findData(iw.IMPORT_KEY))
    qtbot.waitUntil(lambda: units.currentText() == "hubert-small (imported)", timeout=60000)
    assert caption.findText("hubert-small (imported)") < 0 and codec.count() == n_codec + 1
    # a new window lists what was imported before
    from studio.ui.main_window import MainWindow

    again = MainWindow(window.settings)
    qtbot.addWidget(again)
    assert again.transcribe.model.findText("tiny-random (imported)") >= 0
    assert again.codec.model.findText("encodec_24khz-random (imported)") >= 0
    assert again.caption.model.findText("blip-captioner (imported)") >= 0
    assert again.spectrogram.units.model.findText("hubert-small (imported)") >= 0
    again.close()


def test_the_file_menu_has_the_import_entry(window):
    file_menu = window.menuBar().actions()[0].menu()
    assert "Import local &weights…" in [a.text() for a in file_menu.actions()]
    assert window.transcribe.model.itemText(window.transcribe.model.count() - 1) == "Import local weights…"
    assert window.codec.model.itemText(window.codec.model.count() - 1) == "Import local weights…"
    assert window.caption.model.itemText(window.caption.model.count() - 1) == "Import local weights…"
