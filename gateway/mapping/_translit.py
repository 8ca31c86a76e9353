"""Transliteration for derived Latin names (e.g. an English legal name a Russian record lacks).

``translit-ru``: the Russian table of ICAO Doc 9303 (machine-readable travel documents, part 3),
which passports use. ``translit-kk``: the same table, plus the Kazakh letters, each written as
the Latin letter closest to it. ICAO gives no Kazakh table, so this one is approximate and only
used for derived display names. A derived name is never written back out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

_ICAO_RU = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}  # fmt: skip
_KAZAKH = {"ә": "a", "ғ": "g", "қ": "q", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h", "і": "i"}


def _transliterator(table: Mapping[str, str]) -> Callable[[str], str]:
    def transliterate(text: str) -> str:
        out = []
        for i, char in enumerate(text):
            latin = table.get(char.lower())
            if latin is None:
                out.append(char)
            elif char.isupper():
                following = text[i + 1] if i + 1 < len(text) else ""
                # "Жуков" -> "Zhukov", "ЖУК" -> "ZHUK"
                out.append(latin.upper() if following.isupper() else latin.capitalize())
            else:
                out.append(latin)
        return "".join(out)

    return transliterate


TRANSLITERATIONS: dict[str, Callable[[str], str]] = {
    "translit-ru": _transliterator(_ICAO_RU),
    "translit-kk": _transliterator({**_ICAO_RU, **_KAZAKH}),
}
