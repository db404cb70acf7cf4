"""Whisper's tokens: text via the `tokenizers` library (byte-level BPE from tokenizer.json), special tokens by name."""

from __future__ import annotations

import os
import string
from functools import cached_property

from tokenizers import Tokenizer

# In token order: language token i is <|startoftranscript|> + 1 + i.
LANGUAGES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer", "sn": "shona",
    "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao", "uz": "uzbek",
    "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk", "mt": "maltese",
    "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog", "mg": "malagasy",
    "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala", "ha": "hausa", "ba": "bashkir",
    "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}
LANGUAGE_BY_NAME = {name: code for code, name in LANGUAGES.items()}
TIME_PRECISION = 0.02  # seconds per timestamp token


class WhisperTokenizer:
    def __init__(self, path: str | os.PathLike, multilingual: bool, num_languages: int = 99) -> None:
        self.tok = Tokenizer.from_file(os.fspath(path))
        self.multilingual = multilingual
        self.num_languages = num_languages if multilingual else 0
        self.eot = self._id("<|endoftext|>")
        self.sot = self._id("<|startoftranscript|>")
        self.translate = self._id("<|translate|>")
        self.transcribe = self._id("<|transcribe|>")
        self.sot_prev = self._id("<|startofprev|>")
        self.sot_lm = self._id("<|startoflm|>")
        self.no_timestamps = self._id("<|notimestamps|>")
        # Not every tokenizer.json lists the timestamp tokens; they always follow <|notimestamps|>.
        self.timestamp_begin = self.no_timestamps + 1
        self.no_speech = self.tok.token_to_id("<|nospeech|>") or self._id("<|nocaptions|>")
        self.language_codes = list(LANGUAGES)[: self.num_languages]

    def _id(self, token: str) -> int:
        i = self.tok.token_to_id(token)
        if i is None:
            raise ValueError(f"tokenizer.json lacks {token}")
        return i

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode([i for i in ids if i < self.eot], skip_special_tokens=False)

    def token_text(self, i: int) -> str:
        """Display text of one token: words, timestamps as <|1.20|>, other specials by name."""
        if i >= self.timestamp_begin:
            return f"<|{(i - self.timestamp_begin) * TIME_PRECISION:.2f}|>"
        if i >= self.eot:
            return self.tok.id_to_token(i) or f"<|{i}|>"
        return self.decode([i])

    def language_token(self, code: str) -> int:
        if code not in self.language_codes:
            raise ValueError(f"unknown language {code}")
        return self.sot + 1 + self.language_codes.index(code)

    @cached_property
    def all_language_tokens(self) -> list[int]:
        return [self.sot + 1 + i for i in range(self.num_languages)]

    def sot_sequence(self, language: str | None, task: str) -> list[int]:
        seq = [self.sot]
        if self.multilingual:
            seq.append(self.language_token(language or "en"))
            seq.append(self.translate if task == "translate" else self.transcribe)
        return seq

    @cached_property
    def non_speech_tokens(self) -> list[int]:
        """Tokens of symbols and speaker tags that should never be generated (openai-whisper's list)."""
        symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
        symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
        miscellaneous = set("♩♪♫♬♭♮♯")
        result = {self.encode(" -")[0], self.encode(" '")[0]}
        for symbol in symbols + list(miscellaneous):
            for tokens in (self.encode(symbol), self.encode(" " + symbol)):
                if len(tokens) == 1 or symbol in miscellaneous:
                    result.add(tokens[0])
        return sorted(result)

    def split_on_unicode(self, tokens: list[int]) -> tuple[list[str], list[list[int]]]:
        """Smallest token groups that decode to whole characters (a U+FFFD that the text itself holds counts as
        whole); an incomplete group at the end is dropped, as openai-whisper does."""
        full = self.decode(tokens)
        words: list[str] = []
        groups: list[list[int]] = []
        current: list[int] = []
        offset = 0
        for t in tokens:
            current.append(t)
            text = self.decode(current)
            if "\ufffd" not in text or full[offset + text.index("\ufffd")] == "\ufffd":
                words.append(text)
                groups.append(current)
                current = []
                offset += len(text)
        return words, groups

    def split_to_word_tokens(self, tokens: list[int], language: str | None = None) -> tuple[list[str], list[list[int]]]:
        """Group tokens into words: at spaces and punctuation, or per character for languages without spaces."""
        subwords, groups = self.split_on_unicode(tokens)
        if language in ("zh", "ja", "th", "lo", "my", "yue"):
            return subwords, groups
        words: list[str] = []
        word_tokens: list[list[int]] = []
        for text, group in zip(subwords, groups, strict=True):
            special = group[0] >= self.eot
            punctuation = text.strip() in string.punctuation  # a substring test, as openai-whisper's
            if special or text.startswith(" ") or punctuation or not words:
                words.append(text)
                word_tokens.append(list(group))
            else:
                words[-1] += text
                word_tokens[-1].extend(group)
        return words, word_tokens
