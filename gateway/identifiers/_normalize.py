"""Normalization applied to every identifier before its scheme's rules run."""

from __future__ import annotations

import unicodedata

# Separators people type or paste inside identifiers. Dashes are matched by Unicode category (Pd)
# below; these are the extras that are not in it. U+3002 is the ideographic full stop that Chinese
# input methods produce for "."; U+00AD, U+200B, U+2060 and U+FEFF are invisible and arrive with
# copy-paste from web pages and office documents.
_DROPPED = frozenset(".\u3002\u2212\u00ad\u200b\u2060\ufeff")

# Cyrillic letters that render like Latin ones; a Russian keyboard layout produces them silently.
# Only applied to schemes whose alphabet has letters: in a digits-only scheme a Cyrillic letter is
# an error either way, and reporting the character the caller actually sent is clearer.
# Written as Unicode names, not literals, so that a reader can see which alphabet each side is in.
_CYRILLIC_TO_LATIN = {
    ord(unicodedata.lookup(f"CYRILLIC {case} LETTER {cyrillic}")): latin
    for cyrillic, latin in (
        ("A", "A"),
        ("VE", "B"),
        ("IE", "E"),
        ("KA", "K"),
        ("EM", "M"),
        ("EN", "H"),
        ("O", "O"),
        ("ER", "P"),
        ("ES", "C"),
        ("TE", "T"),
        ("U", "Y"),
        ("HA", "X"),
    )
    for case in ("CAPITAL", "SMALL")
}


def _kept(ch: str) -> bool:
    return not (ch.isspace() or ch in _DROPPED or unicodedata.category(ch) == "Pd")


def normalize(value: str, *, letters: bool) -> str:
    """Return ``value`` in the canonical form that scheme rules are checked against.

    NFKC first, so full-width digits, letters, spaces and hyphens become their ASCII forms; then
    separators go, Cyrillic look-alikes become Latin (if ``letters``) and ASCII letters upper case.
    Only ASCII is case-mapped: ``str.upper`` would turn the Turkish dotless i (U+0131) into ``I``
    and let a foreign letter through. The closing NFKC keeps the function idempotent when a removed
    separator used to sit between a letter and a combining mark.
    """
    text = "".join(ch for ch in unicodedata.normalize("NFKC", value) if _kept(ch))
    if letters:
        text = text.translate(_CYRILLIC_TO_LATIN)
    text = "".join(ch.upper() if "a" <= ch <= "z" else ch for ch in text)
    return unicodedata.normalize("NFKC", text)
