"""Silero VAD weights from the `silero-vad` package (shipped on PyPI, so the voice filter works offline)."""

from __future__ import annotations

from pathlib import Path

from studio.hub.download import WeightsMissingError
from studio.models.silero_vad import SileroVAD

_NAMES = {"stft.forward_basis_buffer": "stft_conv.weight", "decoder.decoder.2.weight": "final_conv.weight",
          "decoder.decoder.2.bias": "final_conv.bias"}
_NAMES.update({f"encoder.{i}.reparam_conv.{p}": f"conv{i + 1}.{p}" for i in range(4) for p in ("weight", "bias")})
_NAMES.update({f"decoder.rnn.{p}": f"lstm.{p}_l0" for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})


def silero_file() -> Path:
    from importlib.util import find_spec

    try:  # its __init__ imports torchaudio and warns; only the data folder is needed
        spec = find_spec("silero_vad")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise WeightsMissingError("The voice-activity filter's weights (the silero-vad package) are missing.",
                                  "Reinstall Voice Studio (make run), or: pip install silero-vad.")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.jit"


def load_silero_vad() -> SileroVAD:
    """The package's published TorchScript archive holds the weights; only its tensors are used (16 kHz model)."""
    import warnings

    import torch

    with warnings.catch_warnings():  # torch.jit.load is deprecated, but it is the format the weights ship in
        warnings.simplefilter("ignore", FutureWarning)
        archive = torch.jit.load(str(silero_file()), map_location="cpu")
    state = {k.removeprefix("_model."): v for k, v in archive.state_dict().items() if k.startswith("_model.")}
    model = SileroVAD()
    model.load_state_dict({_NAMES[k]: v for k, v in state.items()}, strict=True)
    return model.eval()
