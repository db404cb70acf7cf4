"""Voice cloning with VALL-E X: text -> phoneme ids, enrollment of a voice prompt, AR + NAR synthesis over EnCodec
codes, the round-trip check. Results are plain dataclasses; nothing here imports Qt."""
