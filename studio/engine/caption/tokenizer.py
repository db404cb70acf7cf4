"""BLIP's text side: the checkpoint's BERT WordPiece tokenizer (tokenizer.json, read with the `tokenizers`
library) and the prompt convention of transformers' BLIP generate: [CLS] becomes the decoder's begin token
([DEC]) and the closing [SEP] is dropped, so the caption continues the prompt."""

from __future__ import annotations

import json
from pathlib import Path

from studio.errors import StudioError

_REMEDY = "Use a Hugging Face BLIP captioning folder (it holds tokenizer.json)."


class CaptionTokenizer:
    def __init__(self, folder: str | Path, bos_token_id: int, sep_token_id: int) -> None:
        from tokenizers import Tokenizer

        path = Path(folder) / "tokenizer.json"
        try:
            self.tok = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises its own Exception type for missing or damaged files
            raise StudioError(f"The captioning model's tokenizer '{path}' cannot be read ({str(e)[:80]}).",
                              _REMEDY) from e
        self.lowercase = self._lowercase(Path(folder))
        self.bos, self.sep = bos_token_id, sep_token_id

    @staticmethod
    def _lowercase(folder: Path) -> bool:
        """bert-base-uncased lowercases in its normalizer already; an old tokenizer_config may say so instead."""
        try:
            return bool(json.loads((folder / "tokenizer_config.json").read_text("utf-8")).get("do_lower_case"))
        except (OSError, ValueError, AttributeError):
            return False

    def prompt_ids(self, prompt: str) -> list[int]:
        """Ids that start the caption: the begin token, then the prompt's words (no closing [SEP])."""
        text = prompt.strip().lower() if self.lowercase else prompt.strip()
        ids = self.tok.encode(text).ids if text else []
        words = [i for i in ids if i not in self._specials()]
        return [self.bos, *words]

    def _specials(self) -> set[int]:
        return {i for i in (self.tok.token_to_id("[CLS]"), self.tok.token_to_id("[SEP]"),
                            self.tok.token_to_id("[PAD]")) if i is not None}

    def decode(self, ids: list[int]) -> str:
        """The caption text (special tokens and the begin token left out), as transformers' decode with
        skip_special_tokens."""
        return self.tok.decode([i for i in ids if i not in (self.bos, self.sep)], skip_special_tokens=True).strip()

    def pieces(self, ids: list[int]) -> list[str]:
        """One display string per id ("##ing" shown as "ing"; the end token as "[end]")."""
        out = []
        for i in ids:
            if i == self.sep:
                out.append("[end]")
                continue
            piece = self.tok.id_to_token(i) or f"<{i}>"
            out.append(piece[2:] if piece.startswith("##") else piece)
        return out
