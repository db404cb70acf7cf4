"""Silero VAD v5 (16 kHz): speech probability per 32 ms chunk.

The convolutional front end sees each chunk plus 64 samples of the previous one and does not depend on the
recurrent state, so all chunks go through it in one batch; only the LSTM runs in sequence (one nn.LSTM call).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CHUNK = 512  # samples at 16 kHz
CONTEXT = 64


class SileroVAD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)  # real + imaginary DFT rows
        self.conv1 = nn.Conv1d(129, 128, 3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
        self.lstm = nn.LSTM(128, 128, batch_first=True)
        self.final_conv = nn.Conv1d(128, 1, 1)

    def features(self, windows: Tensor) -> Tensor:
        """windows (N, 64 + 512) -> (N, 128), independent per window."""
        x = F.pad(windows, (0, CONTEXT), mode="reflect").unsqueeze(1)
        x = self.stft_conv(x)
        x = (x[:, :129] ** 2 + x[:, 129:] ** 2).sqrt()
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.relu(conv(x))
        return x.squeeze(-1)

    def forward(self, audio: Tensor, state: tuple[Tensor, Tensor] | None = None,
                context: Tensor | None = None) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor]:
        """audio (n * 512,) 16 kHz -> speech probability per chunk (n,), LSTM state and the last 64 samples,
        which continue the stream in the next call."""
        if context is None:
            context = audio.new_zeros(CONTEXT)
        x = torch.cat([context, audio])
        n = audio.shape[0] // CHUNK
        windows = x.unfold(0, CHUNK + CONTEXT, CHUNK)[:n]
        h, state = self.lstm(self.features(windows)[None], state)
        p = torch.sigmoid(self.final_conv(F.relu(h).transpose(1, 2)))[0, 0]
        return p, state, x[-CONTEXT:]


def from_silero_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """silero_vad_16k.safetensors (LSTMCell names) -> our names."""
    out = {k: v for k, v in state.items() if not k.startswith("lstm_cell.")}
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        out[f"lstm.{name}_l0"] = state[f"lstm_cell.{name}"]
    return out
