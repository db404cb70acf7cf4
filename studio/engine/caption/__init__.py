"""Image captioning with BLIP: image preprocessing as the checkpoint says, greedy and beam decoding with the
cross-attention of every generated token kept, batch captioning with sidecars. Plain dataclasses; no Qt."""
