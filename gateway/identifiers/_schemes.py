"""The built-in identifier schemes: their rules, check-character algorithms, the ``BUILTIN`` table.

Each ``_check_*`` receives a normalized value and raises ``InvalidIdentifier`` for the first rule it
breaks, in the order length, alphabet, structure, check character. python-stdnum is the authority
where it implements a scheme; its exceptions are translated here, once, into our rule names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stdnum import lei, luhn
from stdnum.by import unp
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.in_ import gstin, pan
from stdnum.iso7064 import mod_37_36, mod_97_10
from stdnum.ru import inn, ogrn

from gateway.errors import InvalidIdentifier

from ._countries import is_country
from ._model import CHECK_DIGIT_MISMATCH, Scheme

_DIGITS = "0123456789"
_ALNUM = _DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# --- shared rule helpers ------------------------------------------------------------------------


def _fault(scheme: str, rule: str, message: str) -> InvalidIdentifier:
    return InvalidIdentifier(message, scheme=scheme, rule=rule)


def _length(scheme: str, value: str, allowed: tuple[int, ...], what: str) -> None:
    if len(value) not in allowed:
        raise _fault(scheme, "length", f"{scheme} must be {what} long, got {len(value)}")


def _alphabet(scheme: str, value: str, alphabet: str, what: str, start: int = 1) -> None:
    for position, ch in enumerate(value, start):
        if ch not in alphabet:
            raise _fault(
                scheme,
                "alphabet",
                f"{scheme} may contain only {what}; found {ch!r} at position {position}",
            )


def _check_char(scheme: str, actual: str, expected: str, what: str = "check character") -> None:
    if actual != expected:
        raise _fault(
            scheme, "check_digit", f"{scheme} has {what} {actual!r}, expected {expected!r}"
        )


def _no_check_char(scheme: str, value: str) -> InvalidIdentifier:
    return _fault(
        scheme, "check_digit", f"{scheme} {value} is invalid: no check digit fits its other digits"
    )


# --- CN_USCC: GB 32100-2015 ---------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # W_i = 3^(i-1) mod 31
_USCC_AUTHORITIES = "123456789ANY"


def uscc_check_char(body17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a USCC."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _check_uscc(value: str) -> None:
    # Written here rather than taken from stdnum.cn.uscc, which rejects registering authorities
    # A, N and Y because it wants positions 1-8 to be digits.
    s = "CN_USCC"
    _length(s, value, (18,), "18 characters")
    _alphabet(s, value, USCC_ALPHABET, "digits and the letters A-Y without I, O, S, V, Z")
    if value[0] not in _USCC_AUTHORITIES:
        raise _fault(
            s,
            "registering_authority",
            f"{s} position 1 (registering authority) must be 1-9, A, N or Y, got {value[0]!r}",
        )
    # Position 2 (entity type) is any alphabet character; the alphabet rule above covers it.
    if any(c not in _DIGITS for c in value[2:8]):
        raise _fault(
            s,
            "administrative_division",
            f"{s} positions 3-8 (administrative division code) must be digits, got {value[2:8]!r}",
        )
    _check_char(s, value[17], uscc_check_char(value[:17]))


# --- LEI: ISO 17442 -----------------------------------------------------------------------------


def _check_lei(value: str) -> None:
    s = "LEI"
    _length(s, value, (20,), "20 characters")
    _alphabet(s, value, _ALNUM, "digits and the letters A-Z")
    if any(c not in _DIGITS for c in value[18:]):
        raise _fault(
            s, "format", f"{s} positions 19-20 (check digits) must be digits, got {value[18:]!r}"
        )
    try:
        lei.validate(value)
    except InvalidChecksum:
        _check_char(s, value[18:], mod_97_10.calc_check_digits(value[:18]), "check digits")
        raise  # only if stdnum disagrees with itself; _translating still reports it


# --- RU_INN, RU_OGRN ----------------------------------------------------------------------------


def _check_ru_inn(value: str) -> None:
    s = "RU_INN"
    _length(s, value, (10, 12), "10 digits (organisation) or 12 digits (person)")
    _alphabet(s, value, _DIGITS, "digits")
    try:
        inn.validate(value)
    except InvalidChecksum:
        if len(value) == 10:
            _check_char(s, value[-1], inn.calc_company_check_digit(value), "check digit")
        else:
            _check_char(s, value[-2:], inn.calc_personal_check_digits(value), "check digits")
        raise  # only if stdnum disagrees with itself; _translating still reports it


def _check_ru_ogrn(value: str) -> None:
    s = "RU_OGRN"
    _length(s, value, (13, 15), "13 digits (OGRN) or 15 digits (OGRNIP)")
    _alphabet(s, value, _DIGITS, "digits")
    allowed = "123456789" if len(value) == 13 else "34"
    if value[0] not in allowed:
        raise _fault(
            s,
            "record_type",
            f"{s} of {len(value)} digits cannot start with {value[0]!r} (record type)",
        )
    # The check digit is the last digit of the remainder (mod 11 or mod 13). stdnum.ru.ogrn.validate
    # compares against the whole remainder, so it rejects every valid OGRNIP whose remainder mod 13
    # is 10-12; its calc_check_digit is right once cut to the last digit.
    _check_char(s, value[-1], ogrn.calc_check_digit(value)[-1], "check digit")


# --- BY_UNP -------------------------------------------------------------------------------------

_UNP_LETTERS = "ABCEHKMOPT"  # the only letters stdnum.by.unp allows (positions 1-2, individuals)
_UNP_REGIONS = "1234567ABCEHKM"


def _check_by_unp(value: str) -> None:
    s = "BY_UNP"
    _length(s, value, (9,), "9 characters")
    _alphabet(s, value, _DIGITS + _UNP_LETTERS, f"digits and the letters {', '.join(_UNP_LETTERS)}")
    head = value[:2]
    if any(c not in _DIGITS for c in value[2:]) or (
        any(c in _DIGITS for c in head) and any(c not in _DIGITS for c in head)
    ):
        raise _fault(s, "format", f"{s} must be 9 digits, or 2 letters followed by 7 digits")
    if value[0] not in _UNP_REGIONS:
        raise _fault(
            s, "region", f"{s} position 1 (region) must be one of {', '.join(_UNP_REGIONS)}"
        )
    try:
        expected = unp.calc_check_digit(value)
    except InvalidChecksum:
        raise _no_check_char(s, value) from None
    _check_char(s, value[-1], expected, "check digit")
    unp.validate(value)  # stdnum has the last word; any disagreement surfaces as a mapped error


# --- IN_GSTIN -----------------------------------------------------------------------------------

_GSTIN_FORMAT = re.compile(r"[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z]Z[0-9A-Z]")


def _check_in_gstin(value: str) -> None:
    s = "IN_GSTIN"
    _length(s, value, (15,), "15 characters")
    _alphabet(s, value, _ALNUM, "digits and the letters A-Z")
    if not _GSTIN_FORMAT.fullmatch(value):
        raise _fault(
            s,
            "format",
            f"{s} must be a 2-digit state code, a 10-character PAN (5 letters, 4 digits, "
            "1 letter), a registration number 1-9 or A-Z, the letter Z and a check character",
        )
    try:
        pan.validate(value[2:12])
    except InvalidComponent:
        raise _fault(
            s,
            "pan",
            f"{s} positions 3-12 are not a valid PAN (holder type {value[5]!r} or serial 0000)",
        ) from None
    try:
        gstin.validate(value)
    except InvalidComponent:
        # Every other component was checked above; the state code is what is left.
        raise _fault(
            s, "state_code", f"{s} positions 1-2 ({value[:2]!r}) are not a known state code"
        ) from None
    except InvalidChecksum:
        _check_char(s, value[-1], luhn.calc_check_digit(value[:-1], _ALNUM))
        raise  # only if stdnum disagrees with itself; _translating still reports it


# --- KZ_BIN -------------------------------------------------------------------------------------

_KZ_WEIGHTS = (tuple(range(1, 12)), (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2))
_KZ_TYPES = "456"  # resident legal entity, non-resident legal entity, individual entrepreneur
_KZ_DIVISIONS = "0123"  # head office, branch, representative office, peasant farm


def kz_bin_check_digit(first11: str) -> str | None:
    """The check digit for the first 11 digits of a BIN, or None if none exists."""
    for weights in _KZ_WEIGHTS:
        total = sum(int(d) * w for d, w in zip(first11, weights, strict=True)) % 11
        if total != 10:
            return str(total)
    return None


def _check_kz_bin(value: str) -> None:
    s = "KZ_BIN"
    _length(s, value, (12,), "12 digits")
    _alphabet(s, value, _DIGITS, "digits")
    if not 1 <= int(value[2:4]) <= 12:
        raise _fault(
            s, "date", f"{s} positions 3-4 (registration month) must be 01-12, got {value[2:4]!r}"
        )
    if value[4] not in _KZ_TYPES:
        raise _fault(
            s, "type_digit", f"{s} position 5 (entity type) must be 4, 5 or 6, got {value[4]!r}"
        )
    if value[5] not in _KZ_DIVISIONS:
        raise _fault(
            s, "division_digit", f"{s} position 6 (division) must be 0, 1, 2 or 3, got {value[5]!r}"
        )
    expected = kz_bin_check_digit(value[:11])
    if expected is None:
        raise _no_check_char(s, value)
    _check_char(s, value[11], expected, "check digit")


# --- AEO: mutual-recognition operator id ----------------------------------------------------------


@dataclass(frozen=True)
class _CodeFormat:
    lengths: range
    alphabet: str
    alphabet_what: str
    what: str


# Customs code after the country prefix, per country; operator data, extend as MRAs are confirmed.
# China hands partners "CN + 10-digit customs enterprise code" (GACC 2015 No. 52).
_AEO_CODE_FORMATS = {
    "CN": _CodeFormat(range(10, 11), _DIGITS, "digits", "the 10-digit customs enterprise code"),
}
_AEO_CODE_DEFAULT = _CodeFormat(
    range(1, 16), _ALNUM, "digits and letters", "a customs code of 1-15 letters or digits"
)


def _check_country(scheme: str, value: str) -> None:
    if not is_country(value[:2]):
        raise _fault(
            scheme,
            "country",
            f"{scheme} must start with an assigned ISO 3166-1 alpha-2 country code, "
            f"got {value[:2]!r}",
        )


def _check_aeo(value: str) -> None:
    s = "AEO"
    _alphabet(s, value, _ALNUM, "digits and the letters A-Z")
    if len(value) < 3:
        raise _fault(
            s,
            "length",
            f"{s} must be a country code followed by a customs code, got {len(value)} characters",
        )
    _check_country(s, value)
    fmt = _AEO_CODE_FORMATS.get(value[:2], _AEO_CODE_DEFAULT)
    code = value[2:]
    if len(code) not in fmt.lengths:
        raise _fault(
            s,
            "length",
            f"{s} for {value[:2]} must be followed by {fmt.what}, got {len(code)} characters",
        )
    _alphabet(s, code, fmt.alphabet, f"{fmt.alphabet_what} after {value[:2]}", start=3)


# --- SCO: the SCO code id this gateway issues -----------------------------------------------------

_SCO_BODY = 12


def _check_sco(value: str) -> None:
    s = "SCO"
    _length(
        s,
        value,
        (2 + _SCO_BODY + 1,),
        "15 characters (country, 12-character body, check character)",
    )
    _alphabet(s, value, _ALNUM, "digits and the letters A-Z")
    _check_country(s, value)
    # The check character covers the country code too, so an id cannot be moved to another issuer.
    _check_char(s, value[-1], mod_37_36.calc_check_digit(value[:-1]))


def make_sco_id(country: str, body12: str) -> str:
    """Return ``country + body12`` followed by its ISO 7064 MOD 37-36 check character.

    Inputs must already be canonical (upper case, no separators): a generator should not guess.
    Raises ``InvalidIdentifier`` (scheme SCO) for a bad country or body.
    """
    s = "SCO"
    if len(country) != 2:
        raise _fault(
            s, "country", f"{s} country must be an ISO 3166-1 alpha-2 code, got {country!r}"
        )
    if len(body12) != _SCO_BODY:
        raise _fault(
            s, "length", f"{s} body must be {_SCO_BODY} characters long, got {len(body12)}"
        )
    _check_country(s, country)
    _alphabet(s, body12, _ALNUM, "digits and the letters A-Z", start=3)
    head = country + body12
    return head + mod_37_36.calc_check_digit(head)


# --- format-only schemes: digits of a fixed length, no known check rule ---------------------------

_FORMAT_ONLY_DIGITS: tuple[tuple[str, tuple[int, ...], str], ...] = (
    ("UZ_INN", (9,), "Uzbekistan taxpayer number (INN/STIR), 9 digits."),
    ("KG_INN", (14,), "Kyrgyzstan taxpayer number (INN), 14 digits."),
    ("TJ_INN", (9,), "Tajikistan taxpayer number (INN), 9 digits."),
    (
        "PK_NTN",
        (7, 8),
        "Pakistan National Tax Number: 7 digits, optionally followed by a check digit. "
        "Format not confirmed; the check digit, if present, is not verified.",
    ),
)


def _digits_check(scheme: str, lengths: tuple[int, ...]) -> Callable[[str], None]:
    what = " or ".join(str(n) for n in lengths) + " digits"

    def check(value: str) -> None:
        _length(scheme, value, lengths, what)
        _alphabet(scheme, value, _DIGITS, "digits")

    return check


def _translating(scheme: str, check: Callable[[str], None]) -> Callable[[str], None]:
    """Wrap ``check`` so that a stdnum error nobody translated still leaves as InvalidIdentifier."""

    def wrapped(value: str) -> None:
        try:
            check(value)
        except ValidationError as exc:
            rule = "check_digit" if isinstance(exc, InvalidChecksum) else "format"
            raise _fault(scheme, rule, f"{scheme} {value} is invalid: {exc}") from exc

    return wrapped


# --- the table ------------------------------------------------------------------------------------

_FORMAT_ONLY = "Format check only: no public check-digit rule is known."

BUILTIN: tuple[Scheme, ...] = (
    Scheme(
        name="CN_USCC",
        description=(
            "China Unified Social Credit Code (GB 32100-2015), 18 characters, check character."
        ),
        has_check_digit=True,
        format_only=False,
        letters=True,
        check=_check_uscc,
        # Early pilot codes were legally issued with a failing check character (DOMAIN.md).
        flaggable=frozenset({CHECK_DIGIT_MISMATCH}),
    ),
    Scheme(
        name="LEI",
        description="Legal Entity Identifier (ISO 17442), 20 characters, ISO 7064 MOD 97-10.",
        has_check_digit=True,
        format_only=False,
        letters=True,
        check=_translating("LEI", _check_lei),
    ),
    Scheme(
        name="RU_INN",
        description="Russian taxpayer number (INN): 10 digits for organisations, 12 for persons.",
        has_check_digit=True,
        format_only=False,
        letters=False,
        check=_translating("RU_INN", _check_ru_inn),
    ),
    Scheme(
        name="RU_OGRN",
        description=(
            "Russian primary state registration number: OGRN (13 digits) or OGRNIP (15 digits)."
        ),
        has_check_digit=True,
        format_only=False,
        letters=False,
        check=_translating("RU_OGRN", _check_ru_ogrn),
    ),
    Scheme(
        name="BY_UNP",
        description="Belarus payer account number (UNP), 9 characters with a check digit.",
        has_check_digit=True,
        format_only=False,
        letters=True,
        check=_translating("BY_UNP", _check_by_unp),
    ),
    Scheme(
        name="IN_GSTIN",
        description="India GST identification number, 15 characters, Luhn mod 36 check character.",
        has_check_digit=True,
        format_only=False,
        letters=True,
        check=_translating("IN_GSTIN", _check_in_gstin),
    ),
    Scheme(
        name="KZ_BIN",
        description="Kazakhstan business identification number (BIN), 12 digits, check digit.",
        has_check_digit=True,
        format_only=False,
        letters=False,
        check=_check_kz_bin,
    ),
    *(
        Scheme(
            name=name,
            description=f"{description} {_FORMAT_ONLY}",
            has_check_digit=False,
            format_only=True,
            letters=False,
            check=_digits_check(name, lengths),
        )
        for name, lengths, description in _FORMAT_ONLY_DIGITS
    ),
    Scheme(
        name="AEO",
        description=(
            "Authorised Economic Operator id as exchanged under mutual recognition: ISO 3166-1 "
            "country code + customs code (CN: 10-digit customs enterprise code). "
            f"{_FORMAT_ONLY}"
        ),
        has_check_digit=False,
        format_only=True,
        letters=True,
        check=_check_aeo,
    ),
    Scheme(
        name="SCO",
        description=(
            "SCO code id issued by this gateway: ISO 3166-1 country code, 12 characters 0-9A-Z, "
            "ISO 7064 MOD 37-36 check character."
        ),
        has_check_digit=True,
        format_only=False,
        letters=True,
        check=_check_sco,
    ),
)
