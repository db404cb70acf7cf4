"""How text is cut for VALL-E X: sentences that each fit the clip the model was trained on, after the prompt.
No torch here: the Voice panel's budget meter uses it as the user types."""

from __future__ import annotations

from studio.errors import StudioError

# VALL-E X was trained on clips of at most about 22 s, prompt and output together.
MAX_CLIP_S = 22.0
# Speech time per phoneme id (characters of IPA, spaces and punctuation included), read speech: the real preset
# librispeech_1 has 58 ids in 3.0 s (0.052 s), the English prompts of VALL-E X about 0.06 s. Estimates only.
SECONDS_PER_ID = 0.06
MIN_BUDGET_IDS = 24  # even with the longest prompt, a short sentence must fit


def budget_ids(prompt_seconds: float) -> int:
    """How many phoneme ids of a sentence fit after a prompt of this length."""
    return max(MIN_BUDGET_IDS, int((MAX_CLIP_S - prompt_seconds) / SECONDS_PER_ID))


def estimate_seconds(n_ids: int) -> float:
    return n_ids * SECONDS_PER_ID


def plan_sentences(text: str, language: str, prompt_seconds: float) -> list[str]:
    """Sentences of `text`, each split further until it fits the clip budget left by the prompt."""
    from studio.engine.clone.phonemes import split_sentences

    pieces = [p.strip() for p in split_sentences(text, language, budget_ids(prompt_seconds))]
    pieces = [p for p in pieces if p]
    if not pieces:
        raise StudioError("There is no text to speak.", "Type a sentence in the text box.")
    return pieces
