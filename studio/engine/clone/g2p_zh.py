"""Mandarin text -> IPA the way VALL-E X's `chinese_to_ipa` makes it (utils/g2p/mandarin.py at 3faaf8c): numbers in
Chinese (cn2an), words (jieba), bopomofo (pypinyin), Latin letters spelled in bopomofo, then its bopomofo -> ipa
table and syllable rules. The tables are data of the checkpoint's input format; order matters (longest first)."""

from __future__ import annotations

import logging
import re
import unicodedata
import warnings
from functools import cache
from typing import Any

from studio.engine.clone.g2p_deps import need

# Latin letters as a Mandarin speaker spells them out.
_LATIN_TO_BOPOMOFO = [(re.compile(letter, re.IGNORECASE), spelled) for letter, spelled in [
    ("a", "ㄟˉ"), ("b", "ㄅㄧˋ"), ("c", "ㄙㄧˉ"), ("d", "ㄉㄧˋ"), ("e", "ㄧˋ"), ("f", "ㄝˊㄈㄨˋ"), ("g", "ㄐㄧˋ"),
    ("h", "ㄝˇㄑㄩˋ"), ("i", "ㄞˋ"), ("j", "ㄐㄟˋ"), ("k", "ㄎㄟˋ"), ("l", "ㄝˊㄛˋ"), ("m", "ㄝˊㄇㄨˋ"), ("n", "ㄣˉ"),
    ("o", "ㄡˉ"), ("p", "ㄆㄧˉ"), ("q", "ㄎㄧㄡˉ"), ("r", "ㄚˋ"), ("s", "ㄝˊㄙˋ"), ("t", "ㄊㄧˋ"), ("u", "ㄧㄡˉ"),
    ("v", "ㄨㄧˉ"), ("w", "ㄉㄚˋㄅㄨˋㄌㄧㄡˋ"), ("x", "ㄝˉㄎㄨˋㄙˋ"), ("y", "ㄨㄞˋ"), ("z", "ㄗㄟˋ"),
]]

_BOPOMOFO_TO_IPA = [
    ("ㄅㄛ", "p⁼wo"), ("ㄆㄛ", "pʰwo"), ("ㄇㄛ", "mwo"), ("ㄈㄛ", "fwo"),
    ("ㄅ", "p⁼"), ("ㄆ", "pʰ"), ("ㄇ", "m"), ("ㄈ", "f"), ("ㄉ", "t⁼"), ("ㄊ", "tʰ"), ("ㄋ", "n"), ("ㄌ", "l"),
    ("ㄍ", "k⁼"), ("ㄎ", "kʰ"), ("ㄏ", "x"), ("ㄐ", "tʃ⁼"), ("ㄑ", "tʃʰ"), ("ㄒ", "ʃ"), ("ㄓ", "ts`⁼"), ("ㄔ", "ts`ʰ"),
    ("ㄕ", "s`"), ("ㄖ", "ɹ`"), ("ㄗ", "ts⁼"), ("ㄘ", "tsʰ"), ("ㄙ", "s"),
    ("ㄚ", "a"), ("ㄛ", "o"), ("ㄜ", "ə"), ("ㄝ", "ɛ"), ("ㄞ", "aɪ"), ("ㄟ", "eɪ"), ("ㄠ", "ɑʊ"), ("ㄡ", "oʊ"),
    ("ㄧㄢ", "jɛn"), ("ㄩㄢ", "ɥæn"), ("ㄢ", "an"), ("ㄧㄣ", "in"), ("ㄩㄣ", "ɥn"), ("ㄣ", "ən"), ("ㄤ", "ɑŋ"),
    ("ㄧㄥ", "iŋ"), ("ㄨㄥ", "ʊŋ"), ("ㄩㄥ", "jʊŋ"), ("ㄥ", "əŋ"), ("ㄦ", "əɻ"), ("ㄧ", "i"), ("ㄨ", "u"), ("ㄩ", "ɥ"),
    # tones: 1 level, 2 rising, 3 dipping, 4 falling, neutral unmarked
    ("ˉ", "→"), ("ˊ", "↑"), ("ˇ", "↓↑"), ("ˋ", "↓"), ("˙", ""),
    ("，", ","), ("。", "."), ("！", "!"), ("？", "?"), ("—", "-"),
]

_NUMBER = re.compile(r"\d+(?:\.?\d+)?")
_HANZI = re.compile("[\u4e00-\u9fff]")
_DIGITS_ZH = "零一二三四五六七八九"


@cache
def _jieba() -> Any:
    jieba = need("jieba", "jieba", "Chinese")
    jieba.setLogLevel(logging.WARNING)  # it logs its dictionary loading at DEBUG to stderr
    return jieba


def _number_to_chinese(m: re.Match[str]) -> str:
    cn2an = need("cn2an", "cn2an", "Chinese")
    try:
        with warnings.catch_warnings():  # it warns when it rounds a decimal past 16 digits
            warnings.simplefilter("ignore")
            return cn2an.an2cn(m.group(0))
    except ValueError:  # over 16 digits or digits of other scripts: read digit by digit (upstream crashes)
        return "".join("点" if ch == "." else _DIGITS_ZH[unicodedata.digit(ch)] for ch in m.group(0))


def _to_bopomofo(text: str) -> str:
    pypinyin = need("pypinyin", "pypinyin", "Chinese")
    text = text.replace("、", "，").replace("；", "，").replace("：", "，")
    out = ""
    for word in _jieba().lcut(text, cut_all=False):
        if not _HANZI.search(word):
            out += word
            continue
        syllables = pypinyin.lazy_pinyin(word, pypinyin.BOPOMOFO)
        # pypinyin leaves the first tone unmarked; the table above needs its mark
        syllables = [re.sub("([\u3105-\u3129])$", "\\1ˉ", s) for s in syllables]
        out += (" " if out else "") + "".join(syllables)
    return out


def chinese_to_ipa(text: str) -> str:
    text = _NUMBER.sub(_number_to_chinese, text)
    text = _to_bopomofo(text)
    for pattern, spelled in _LATIN_TO_BOPOMOFO:
        text = pattern.sub(spelled, text)
    for bopomofo, ipa in _BOPOMOFO_TO_IPA:
        text = text.replace(bopomofo, ipa)
    text = re.sub("i([aoe])", r"j\1", text)
    text = re.sub("u([aoəe])", r"w\1", text)
    # the apical vowel after retroflex and dental sibilants
    text = re.sub("([sɹ]`[⁼ʰ]?)([→↓↑ ]+|$)", r"\1ɹ`\2", text).replace("ɻ", "ɹ`")
    return re.sub("(s[⁼ʰ]?)([→↓↑ ]+|$)", r"\1ɹ\2", text)
