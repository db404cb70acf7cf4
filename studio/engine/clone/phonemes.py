"""Text -> the phoneme ids VALL-E X's checkpoint reads: what its `PhonemeBpeTokenizer.tokenize("_[EN]text[EN]")`
gives (utils/g2p at commit 3faaf8c), for en, zh and ja. The cleaning (g2p_en/zh/ja) follows upstream exactly, the
final full stop rule of its `clean_one` included, then ' ' -> '_' and the BPE vocabulary bpe_69.json (one id per
symbol). Where upstream would feed the model an [UNK] id (a stray ';', an emoji in Chinese) or transliterate another
script as phonemes, the symbol is dropped and named in `dropped`, so that the caller can say what will not be heard.

`split_sentences` cuts long text into pieces that each fit a phoneme budget, at sentence ends first, then at commas,
then between words (characters in zh/ja), as a last resort inside a word; no text is lost."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from studio.errors import StudioError

LANGUAGES = ("en", "zh", "ja")
_NAMES = {"en": "English", "zh": "Chinese", "ja": "Japanese"}
VOCAB_FILE = Path(__file__).resolve().parents[2] / "resources" / "vallex" / "bpe_69.json"

_FINAL_STOP = re.compile(r"([^.,!?\-…~])$")  # clean_one: a phoneme string not ending so gets a '.'
# Symbols that are not sounds: punctuation, the word gap '_', stress, tone and pitch marks, Japanese diacritics.
_NOT_SPOKEN = frozenset("!#*,-.=?^_`~ʰˈˌ…⁼↑→↓")
_VARIATION_SELECTORS = frozenset(chr(c) for c in range(0xFE00, 0xFE10))  # U+FE0F after ❤ asks for the emoji form


@dataclass(frozen=True)
class PhonemeIds:
    ids: list[int]
    langs: list[str]  # one language code per id, as VALL-E X's tokenizer returns them
    phonemes: str  # the cleaned phoneme string the ids spell, one symbol per id ('_' between words)
    dropped: list[str]  # symbols of the text that cannot be spoken and were left out, each once


@cache
def _tokenizer() -> tuple[Any, frozenset[str]]:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(VOCAB_FILE))
    except Exception as e:  # tokenizers raises its own Exception type for a missing or damaged file
        raise StudioError(f"Voice Studio's phoneme table {VOCAB_FILE} cannot be read ({e}).",
                          "Reinstall Voice Studio.") from e
    # bpe_69 has no merges: every symbol is one token, the special tokens ([UNK], [PAD], ...) are not symbols
    return tok, frozenset(s for s in tok.get_vocab() if len(s) == 1)


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise StudioError(f"Unknown language '{language}' for voice cloning.",
                          "Choose en (English), zh (Chinese) or ja (Japanese).")


def _tidy(text: str, language: str) -> str:
    """Upstream's generate_audio deletes line breaks and strips spaces; deleting would glue English words, so a line
    break is a space there. Other whitespace is a space; invisible joiners and variation selectors go quietly."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"\s*\n\s*", " " if language == "en" else "", text)
    text = re.sub(r"\s", " ", text)
    # joiners, zero-width spaces (format characters), controls and variation selectors: invisible, never spoken
    text = "".join(ch for ch in text if ch not in _VARIATION_SELECTORS and unicodedata.category(ch) not in ("Cc", "Cf"))
    return text.strip(" ")


def _encode(text: str, language: str) -> PhonemeIds:
    """text_to_ids without the 'nothing to say' check (split_sentences counts pieces that may be only a comma)."""
    _check_language(language)
    tok, vocab = _tokenizer()
    dropped: dict[str, None] = {}  # insertion-ordered set
    drop: Callable[[str], None] = lambda ch: dropped.setdefault(ch, None)  # noqa: E731
    text = _tidy(text, language)
    if not text:
        phon = ""
    elif language == "en":
        from studio.engine.clone.g2p_en import english_to_ipa2
        phon = english_to_ipa2(text, drop)
    elif language == "zh":
        from studio.engine.clone.g2p_zh import chinese_to_ipa
        phon = chinese_to_ipa(text)
    else:
        from studio.engine.clone.g2p_ja import japanese_to_ipa2
        phon = japanese_to_ipa2(text, vocab.__contains__, drop)
    phon = _FINAL_STOP.sub(r"\1.", re.sub(r"\s+$", "", phon + " ")).replace(" ", "_")
    for ch in phon:
        if ch not in vocab:
            drop(ch)
    kept = "".join(ch for ch in phon if ch in vocab)
    ids = tok.encode(kept).ids if kept else []
    if len(ids) != len(kept):  # the vocabulary changed under us: langs would no longer line up with ids
        raise RuntimeError(f"{VOCAB_FILE.name} gave {len(ids)} ids for {len(kept)} symbols")
    return PhonemeIds(ids, [language] * len(ids), kept, list(dropped))


def _spoken(result: PhonemeIds) -> bool:
    return any(ch not in _NOT_SPOKEN for ch in result.phonemes)


_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _script_language(dropped: list[str]) -> str | None:
    """zh or ja when the dropped characters are Chinese or Japanese script: the language was probably wrong."""
    joined = "".join(dropped)
    if _KANA.search(joined):
        return "ja"
    if _HAN.search(joined):
        return "zh"
    return None


def _nothing_to_say(text: str, language: str, result: PhonemeIds) -> StudioError:
    if not text.strip():
        return StudioError("Nothing to say: the text is empty.", f"Type some words in {_NAMES[language]}.")
    other = _script_language(result.dropped) if language == "en" else None
    if other is not None:
        return StudioError(f"Nothing to say in {_NAMES[language]}: the text is written in {_NAMES[other]} "
                           f"({' '.join(result.dropped[:10])}).",
                           f"Choose {_NAMES[other]} ({other}) as the language of the text.")
    what = "the text has only punctuation or symbols"
    if result.dropped:
        what += f" ({' '.join(result.dropped[:10])} cannot be spoken)"
    return StudioError(f"Nothing to say: {what}.",
                       f"Type some words in {_NAMES[language]}; punctuation, emoji and symbols are not spoken.")


def text_to_ids(text: str, language: str) -> PhonemeIds:
    """The phoneme ids of `text` in `language` (en, zh or ja). StudioError if nothing in it can be spoken, or the
    language's G2P package is missing (Japanese needs pyopenjtalk and its dictionary)."""
    result = _encode(text, language)
    if not _spoken(result):
        raise _nothing_to_say(text, language, result)
    return result


# Sentence ends: English needs a space after (3.50, e.g.), Chinese and Japanese do not; closing quotes stay with it.
_EN_END = re.compile(r"""[.!?…]+['"’”)\]]*(?=\s|$)""")
_CJK_END = re.compile(r"""(?:[。！？!?…]+|\.(?=\s))[」』”’）)】"']*""")
_PARAGRAPH = re.compile(r"\n\s*\n")
_CLAUSE = re.compile(r"[,;:]+(?=\s)|[，、；：]+")
_WORD_BEFORE = re.compile(r"(\w+)$")
_WORD = re.compile(r"\S+")
_WORD_CJK = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-z]+|\S")  # a number or a Latin word whole, else a character
_CHARACTER = re.compile(r"\S")

Span = tuple[int, int]


def _cut(text: str, span: Span, ends: list[int]) -> list[Span]:
    """span cut after each position in ends; pieces that are only whitespace are left out (they say nothing)."""
    start, stop = span
    out = []
    for end in sorted({e for e in ends if start < e < stop} | {stop}):
        if text[start:end].strip():
            out.append((start, end))
        start = end
    return out


def _sentence_ends(text: str, language: str) -> list[int]:
    ends = [m.end() for m in _PARAGRAPH.finditer(text)]
    if language != "en":
        return ends + [m.end() for m in _CJK_END.finditer(text)]
    for m in _EN_END.finditer(text):
        word = _WORD_BEFORE.search(text, 0, m.start())
        if m.group().startswith(".") and word is not None:
            from studio.engine.clone.g2p_en import ABBREVIATIONS
            w = word.group(1)
            if w.lower() in ABBREVIATIONS or (len(w) == 1 and w.isupper()):  # Dr. Smith, J. R. Tolkien
                continue
        ends.append(m.end())
    return ends


class _Fitter:
    def __init__(self, text: str, language: str, max_ids: int) -> None:
        self.text, self.language, self.max_ids = text, language, max_ids
        self.known: dict[str, PhonemeIds] = {}  # a G2P call costs ~10 ms in English (an SQLite query)

    def encode(self, span: Span) -> PhonemeIds:
        piece = self.text[span[0]:span[1]].strip()
        if piece not in self.known:
            self.known[piece] = _encode(piece, self.language)
        return self.known[piece]

    def count(self, span: Span) -> int:
        return len(self.encode(span).ids)

    def fits(self, span: Span) -> bool:
        return self.count(span) <= self.max_ids

    def finer(self, span: Span, level: int) -> list[Span]:
        """level 0: clauses; 1: words (en), or characters with numbers and Latin words whole (zh, ja); 2: characters,
        for a word that alone is over budget (read oddly, but every piece fits and nothing is lost)."""
        if level == 0:
            return _cut(self.text, span, [m.end() for m in _CLAUSE.finditer(self.text, *span)])
        pattern = _CHARACTER if level == 2 else _WORD if self.language == "en" else _WORD_CJK
        return [m.span() for m in pattern.finditer(self.text, *span)]

    def fit(self, span: Span, level: int = 0) -> list[Span]:
        if self.fits(span):
            return [span]
        if level == 3:
            raise StudioError(f"'{self.text[span[0]:span[1]]}' alone needs {self.count(span)} phoneme ids, more than "
                              f"the {self.max_ids} that one piece may have.", "Allow longer pieces.")
        return self.pack(self.finer(span, level), level + 1)

    def pack(self, units: list[Span], level: int) -> list[Span]:
        """Greedy: each piece takes as many units as fit, found by doubling then halving the step (pieces are short
        next to the text); only a span tested to fit is ever taken."""
        out: list[Span] = []
        i = 0
        while i < len(units):
            if not self.fits(units[i]):
                out += self.fit(units[i], level)
                i += 1
                continue
            lo, step = i + 1, 1  # units[i:lo] fits
            while lo + step <= len(units) and self.fits((units[i][0], units[lo + step - 1][1])):
                lo, step = lo + step, step * 2
            hi = min(len(units), lo + step - 1)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.fits((units[i][0], units[mid - 1][1])):
                    lo = mid
                else:
                    hi = mid - 1
            out.append((units[i][0], units[lo - 1][1]))
            i = lo
        return out

    def spoken(self, span: Span) -> bool:
        return _spoken(self.encode(span))

    def join_silent(self, spans: list[Span]) -> list[Span]:
        """A piece with nothing to say ('?!', an emoji) joins the piece before it, or after it, where that fits."""
        out: list[Span] = []
        for span in spans:
            if out and (not self.spoken(span) or not self.spoken(out[-1])) and self.fits((out[-1][0], span[1])):
                out[-1] = (out[-1][0], span[1])
            else:
                out.append(span)
        return out


def split_sentences(text: str, language: str, max_ids: int) -> list[str]:
    """`text` as pieces of whole sentences where they fit in max_ids phoneme ids, else of clauses, else of words
    (characters in zh and ja). Whitespace between pieces is trimmed, nothing else is lost: a piece with nothing to
    say is joined to a neighbour (where that too fits). StudioError if the text has nothing to say at all, or one
    character alone is over max_ids."""
    _check_language(language)
    if max_ids < 1:
        raise ValueError(f"max_ids must be at least 1, not {max_ids}")
    fitter = _Fitter(text, language, max_ids)
    spans: list[Span] = []
    for sentence in _cut(text, (0, len(text)), _sentence_ends(text, language)):
        spans += fitter.fit(sentence)
    spans = fitter.join_silent(spans)
    if not any(fitter.spoken(s) for s in spans):
        raise _nothing_to_say(text, language, _encode(text, language))
    return [text[a:b].strip() for a, b in spans]
